// The demo's `--self-contained` cluster: three brokers in a temp dir, on ports the OS picks. It
// runs `broker/local/local-cluster.ts` (what `npm start` runs) as a child process with generated config
// files, rather than importing the broker: client/ never imports broker/, and this way the demo
// uses the cluster exactly as a user would. stop() is Ctrl-C for it: every broker stops cleanly.

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { followLines } from './lines.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const LOCAL_CLUSTER = path.join(ROOT, 'broker', 'local', 'local-cluster.ts')
/** local-cluster gives up after 60 s; a little more here, so its own message is what we report. */
const READY_TIMEOUT_MS = 70_000
/** Above local-cluster's stop of each broker (15 s to SIGKILL). */
const STOP_TIMEOUT_MS = 30_000
const READY_LINE = /^Strand cluster ready\. Bootstrap: (\S+)$/
const OUTPUT_LINES_MAX = 50

export interface OwnCluster {
  readonly bootstrap: string[]
  readonly dir: string
  /** Stops every broker (SIGTERM to the cluster process), then removes the temp dir. */
  stop(): Promise<void>
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer()
      s.once('error', reject)
      s.listen(0, '127.0.0.1', () => resolve(s))
    })),
  )
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

/** Starts `size` brokers, each with `overrides` on top of its ids, ports and data dir. */
export async function startOwnCluster(options: { size: number; overrides?: Record<string, string | number | boolean> }): Promise<OwnCluster> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'strand-cdc-demo-'))
  const ports = await freePorts(options.size)
  const voters = ports.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(',')
  ports.forEach((port, i) => {
    const config = { 'node.id': i + 1, 'listener.host': '127.0.0.1', 'listener.port': port, 'data.dir': `broker-${i + 1}`, 'controller.quorum.voters': voters, ...options.overrides }
    writeFileSync(path.join(dir, `broker-${i + 1}.json`), JSON.stringify(config, null, 2))
  })
  const child = spawn(process.execPath, ['--import', 'tsx', LOCAL_CLUSTER, '--config-dir', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const killOnExit = (): void => {
    child.kill('SIGKILL')
  }
  process.on('exit', killOnExit)
  const output: string[] = []
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
      await exited
      clearTimeout(timer)
    }
    process.off('exit', killOnExit)
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const bootstrap = await new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the cluster was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${output.join('\n')}`)), READY_TIMEOUT_MS)
      void exited.then(() => {
        clearTimeout(timer)
        reject(new Error(`the cluster process exited before it was ready:\n${output.join('\n')}`))
      })
      followLines(child, output, OUTPUT_LINES_MAX, (line) => {
        const ready = READY_LINE.exec(line)
        if (ready !== null) {
          clearTimeout(timer)
          resolve((ready[1] as string).split(','))
        }
      })
    })
    return { bootstrap, dir, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
