// A consumer-group member in a process of its own, so a test can SIGKILL it: a crashed member
// sends no LeaveGroup and commits nothing more, and the group finds out only when its session
// times out. Run as a script (`node --import tsx group-member.ts '<json options>'`); it prints one
// JSON line per event on stdout: {"type":"assigned","partitions":[..]} and, for every record,
// {"type":"record","partition":p,"offset":"o","value":v} before the batch counts as processed
// (stdout to a pipe is synchronous on Linux, so a printed record was seen before any commit of it).
// spawnGroupMember() starts one and collects its lines.

import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Teardown } from './broker-process.js'
import { onLines } from '../../broker/local/launcher.js'

export interface GroupMemberOptions {
  brokers: string[]
  groupId: string
  topic: string
  sessionTimeoutMs: number
  heartbeatIntervalMs: number
  autoCommitIntervalMs: number
}

export interface GroupMemberProcess {
  readonly child: ChildProcess
  /** Records printed, as `${partition}:${value}`. */
  readonly records: string[]
  /** The last assignment printed. */
  assignment: number[] | null
  readonly output: string[]
  readonly exited: Promise<void>
}

const SELF = fileURLToPath(import.meta.url)
const ROOT = path.resolve(path.dirname(SELF), '..', '..')

export function spawnGroupMember(t: Teardown, options: GroupMemberOptions): GroupMemberProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, JSON.stringify(options)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const member: GroupMemberProcess = { child, records: [], assignment: null, output: [], exited }
  onLines(child, (line) => {
    member.output.push(line)
    if (member.output.length > 200) member.output.shift()
    let event: { type?: string; partitions?: number[]; partition?: number; value?: string }
    try {
      event = JSON.parse(line)
    } catch {
      return
    }
    if (event.type === 'assigned') member.assignment = event.partitions ?? []
    if (event.type === 'record') member.records.push(`${event.partition}:${event.value}`)
  })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  return member
}

async function main(options: GroupMemberOptions): Promise<void> {
  const { Strand } = await import('../../client/index.js')
  const strand = new Strand({ brokers: options.brokers, clientId: 'group-member', retry: { retriesMax: 50, retryBackoffMs: 50, retryBackoffMsMax: 500 } })
  const consumer = strand.consumer({
    groupId: options.groupId,
    sessionTimeoutMs: options.sessionTimeoutMs,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    autoCommitIntervalMs: options.autoCommitIntervalMs,
    maxWaitMs: 100,
  })
  const print = (event: object): void => {
    process.stdout.write(`${JSON.stringify(event)}\n`)
  }
  await consumer.subscribe({
    topics: [options.topic],
    fromBeginning: true,
    onAssigned: (partitions) => print({ type: 'assigned', partitions: partitions.map((p) => p.partition).sort((a, b) => a - b) }),
  })
  for await (const batch of consumer) {
    for (const m of batch.messages) print({ type: 'record', partition: batch.partition, offset: String(m.offset), value: m.value?.toString() })
  }
}

if (process.argv[1] === SELF) {
  main(JSON.parse(process.argv[2] ?? '{}') as GroupMemberOptions).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  })
}
