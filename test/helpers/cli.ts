// The `strand` command run as users run it: a child process through client/bin/strand.mjs, with
// its exit code and output collected.

import { spawn } from 'node:child_process'
import path from 'node:path'

const BIN = path.join(import.meta.dirname, '../../client/bin/strand.mjs')
/** A CLI run that has not finished by then is killed and fails the test. */
const CLI_TIMEOUT_MS = 60_000

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

export function strand(args: string[], stdin = ''): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`strand ${args.join(' ')} did not finish within ${CLI_TIMEOUT_MS} ms`))
    }, CLI_TIMEOUT_MS)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(stdin)
  })
}

/** stdout's JSON lines, parsed. */
export function jsonLines<T>(run: Pick<CliRun, 'stdout'>): T[] {
  return run.stdout.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T)
}
