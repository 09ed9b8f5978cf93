// Real broker processes for tests: port 0, a temp data dir, and every process tied to the test's
// teardown and to a process-exit hook, so it is reaped even when the test fails.

import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { launchBroker, type LaunchedBroker } from '../../broker/local/launcher.js'

const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

/** The part of tap's Test the helpers use. */
export interface Teardown {
  teardown(fn: () => unknown): void
}

/** Teardown for runners outside tap (the fault suite, the fuzzer): run() reaps in reverse order. */
export class Cleanup implements Teardown {
  #fns: (() => unknown)[] = []
  teardown(fn: () => unknown): void {
    this.#fns.push(fn)
  }
  async run(): Promise<void> {
    for (const fn of this.#fns.reverse()) await fn()
    this.#fns = []
  }
}

export interface BrokerProcess extends LaunchedBroker {
  readonly dataDir: string
  /** The last lines the broker printed, for diagnostics. */
  readonly output: string[]
  kill(signal: NodeJS.Signals): void
}

export interface SpawnBrokerOptions {
  /** Reuse a data dir (a restart); by default a fresh temp dir removed at teardown. */
  dataDir?: string
  /** Reuse a port (a restart keeps its address); default 0. */
  port?: number
  overrides?: Record<string, string | number | boolean>
  /** Runs the broker through this command (a network namespace: netns.ts). */
  wrapper?: readonly string[]
  /** Added to the broker's environment (STRAND_FAILPOINTS: broker/failpoints.ts). */
  env?: Record<string, string>
}

export function tempDir(t: Teardown, prefix = 'strand-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export async function spawnBroker(t: Teardown, options: SpawnBrokerOptions = {}): Promise<BrokerProcess> {
  const dataDir = options.dataDir ?? tempDir(t)
  const output: string[] = []
  const launched = await launchBroker({
    overrides: { 'data.dir': dataDir, 'listener.port': options.port ?? 0, ...options.overrides },
    ...(options.wrapper === undefined ? {} : { wrapper: options.wrapper }),
    ...(options.env === undefined ? {} : { env: options.env }),
    onLine: (line) => {
      output.push(line)
      if (output.length > 500) output.shift()
    },
  })
  live.add(launched.child)
  void launched.exited.then(() => live.delete(launched.child))
  t.teardown(async () => {
    if (launched.child.exitCode === null && launched.child.signalCode === null) launched.child.kill('SIGKILL')
    await launched.exited
  })
  return { ...launched, dataDir, output, kill: (signal) => launched.child.kill(signal) }
}

/** SIGTERM, then wait for the exit; SIGKILL if it does not come within `timeoutMs`. */
export async function stopBroker(b: BrokerProcess, timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  await b.stop(timeoutMs)
  return b.exited
}
