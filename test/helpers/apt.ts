// Debian tools that tests drive (kcat as a real Kafka client): found on PATH, or installed with
// `apt-get install -y` (CI runs as root), with `apt-get update` first if that fails. A test that
// still cannot run says why in one line (tap's skip reason) rather than passing silently.
//
// dpkg allows one install at a time: two test files installing at once wait on its lock
// (DPkg::Lock::Timeout) instead of failing.

import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)
/** Each apt-get step; an update and two installs stay under tap's 180 s per file. */
const APT_TIMEOUT_MS = 50_000
/** How long an install waits for another process's dpkg lock. */
const DPKG_LOCK_TIMEOUT_S = 45
const PROBE_TIMEOUT_MS = 10_000

const probes = new Map<string, Promise<{ unavailable: string } | undefined>>()

async function runs(command: string, args: readonly string[]): Promise<boolean> {
  return run(command, args, { timeout: PROBE_TIMEOUT_MS }).then(() => true, () => false)
}

async function aptInstall(pkg: string): Promise<void> {
  await run('apt-get', ['-o', `DPkg::Lock::Timeout=${DPKG_LOCK_TIMEOUT_S}`, 'install', '-y', '--no-install-recommends', pkg], { timeout: APT_TIMEOUT_MS, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
}

async function probe(command: string, probeArgs: readonly string[], pkg: string): Promise<{ unavailable: string } | undefined> {
  if (await runs(command, probeArgs)) return undefined
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return { unavailable: `\`${command}\` is missing and installing Debian's ${pkg} needs root on Linux` }
  try {
    await aptInstall(pkg)
  } catch {
    await run('apt-get', ['update'], { timeout: APT_TIMEOUT_MS }).catch(() => undefined)
    await aptInstall(pkg).catch(() => undefined)
  }
  if (await runs(command, probeArgs)) return undefined
  return { unavailable: `\`${command}\` is missing and \`apt-get install -y ${pkg}\` did not install it` }
}

/** Whether `command` runs (installing Debian package `pkg` once per process if need be), or why not. */
export function ensureDebianTool(command: string, probeArgs: readonly string[], pkg: string): Promise<{ unavailable: string } | undefined> {
  let p = probes.get(command)
  if (p === undefined) {
    p = probe(command, probeArgs, pkg)
    probes.set(command, p)
  }
  return p
}
