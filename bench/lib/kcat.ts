// Running kcat (librdkafka's command-line client, Debian package kcat) for a benchmark: timed
// from its start to its exit, with the CPU it used, all its threads, user + system. The CPU comes
// from bash's `time` (the child's rusage): Node reaps a child it spawned at once, so its
// /proc/<pid>/stat is gone by the time the exit is seen. Linux with bash, like the RSS figures.

import { spawn, spawnSync, type StdioOptions } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'

/** A kcat run still going by then is killed (its process group) and fails the workload. */
const KCAT_TIMEOUT_MS = 180_000
/** bash writes `time`'s figures after this marker on its stderr, which kcat's stderr shares. */
const CPU_MARKER = 'strand-bench-kcat-cpu'
/** The end of kcat's stderr kept for an error message (a failed -P writes a line per record). */
const STDERR_CHARS_MAX = 4_000
const NEWLINE = 0x0a

export interface KcatRun {
  /** From the spawn to the exit: kcat's start, metadata, the work, its flush and exit. */
  wallMs: number
  /** User + system CPU of kcat, all its threads; null when bash did not report it. */
  cpuMs: number | null
  /** Newline bytes kcat wrote to stdout (one per record in -C's default format); null when discarded. */
  stdoutLines: number | null
}

export interface KcatOptions {
  args: readonly string[]
  /** A file kcat reads as its stdin, opened by the kernel for it (no pipe from this process). */
  stdinFile?: string
  /** 'count': piped to this process, which counts its newlines; 'discard': /dev/null, no pipe and no reader. */
  stdout: 'count' | 'discard'
}

/** Process groups of kcat runs not yet exited, killed if this process exits first (a signal, a failure). */
const running = new Set<number>()
process.on('exit', () => {
  for (const pgid of running) {
    try {
      process.kill(-pgid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
})

/** kcat's version line ("Version 1.7.1 (... librdkafka 2.0.2 ...)"), or null when kcat is not installed. */
export function kcatVersion(): string | null {
  const r = spawnSync('kcat', ['-V'], { encoding: 'utf8' })
  if (r.error !== undefined || r.status !== 0) return null
  return /^Version .*$/m.exec(r.stdout)?.[0] ?? r.stdout.trim()
}

/** librdkafka's version from kcatVersion()'s line ("2.0.2"), or "unknown". */
export function librdkafkaVersion(versionLine: string): string {
  return /librdkafka ([\w.-]+)/.exec(versionLine)?.[1] ?? 'unknown'
}

/** Runs kcat to its exit; rejects when it exits non-zero or outlives KCAT_TIMEOUT_MS. */
export function runKcat(o: KcatOptions): Promise<KcatRun> {
  const fds: number[] = []
  const open = (file: string, flags: string): number => {
    const fd = openSync(file, flags)
    fds.push(fd)
    return fd
  }
  const stdio: StdioOptions = [o.stdinFile === undefined ? 'ignore' : open(o.stdinFile, 'r'), o.stdout === 'count' ? 'pipe' : open('/dev/null', 'w'), 'pipe']
  const script = `TIMEFORMAT='${CPU_MARKER} %3U %3S'; time kcat "$@"`
  const start = performance.now()
  // Its own process group, so a timeout kills kcat and not only the bash around it.
  const child = spawn('bash', ['-c', script, 'bash', ...o.args], { stdio, detached: true })
  for (const fd of fds) closeSync(fd)
  const pgid = child.pid
  if (pgid !== undefined) running.add(pgid)
  let lines = 0
  child.stdout?.on('data', (chunk: Buffer) => {
    for (let at = chunk.indexOf(NEWLINE); at >= 0; at = chunk.indexOf(NEWLINE, at + 1)) lines++
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-STDERR_CHARS_MAX)
  })
  return new Promise<KcatRun>((resolve, reject) => {
    let wallMs = 0
    const timer = setTimeout(() => {
      if (pgid !== undefined) process.kill(-pgid, 'SIGKILL')
      reject(new Error(`kcat ${o.args.join(' ')} did not exit within ${KCAT_TIMEOUT_MS / 1000} s; its stderr ended:\n${stderr}`))
    }, KCAT_TIMEOUT_MS)
    child.once('exit', () => {
      wallMs = performance.now() - start
    })
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    // 'close': the exit and the end of stdout, so every newline has been counted.
    child.once('close', (code) => {
      clearTimeout(timer)
      if (pgid !== undefined) running.delete(pgid)
      if (code !== 0) {
        reject(new Error(`kcat ${o.args.join(' ')} exited with ${String(code)}; its stderr ended:\n${stderr}`))
        return
      }
      resolve({ wallMs, cpuMs: cpuMsOf(stderr), stdoutLines: o.stdout === 'count' ? lines : null })
    })
  })
}

/** User + system milliseconds from the last marker line bash wrote, or null without one. */
function cpuMsOf(stderr: string): number | null {
  const all = [...stderr.matchAll(new RegExp(`${CPU_MARKER} ([\\d.]+) ([\\d.]+)`, 'g'))]
  const last = all.at(-1)
  if (last === undefined) return null
  return (Number(last[1]) + Number(last[2])) * 1000
}
