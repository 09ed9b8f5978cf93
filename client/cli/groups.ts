// `strand groups list|describe|reset-offsets`: consumer groups, their members and committed
// offsets, and moving a stopped group's offsets (Kafka's kafka-consumer-groups.sh).
//
// reset-offsets follows Kafka: only while the group has no members, because a running member
// would overwrite the new offsets with its own position at its next commit (and the coordinator
// refuses an outside commit into a group with members anyway). Every target is clamped to the
// partition's [log start, high watermark], so a group cannot be sent past what a consumer can read.

import type { Admin, GroupDescription, Strand } from '../index.js'
import { CommitFailedError, StrandProtocolError } from '../index.js'
import { CommandFailedError, parse, table, toJson, UsageError, type Connect } from './args.js'

export const GROUPS_USAGE = `Usage:
  strand groups list                          every consumer group with its state
  strand groups describe <group> [--isolation read_uncommitted|read_committed]
                                              state, generation, protocol; per partition: committed offset,
                                              log end (high watermark), lag, member id, client id;
                                              --isolation read_committed: the log end and lag are against the
                                              last stable offset (what a read_committed consumer can reach)
  strand groups reset-offsets <group> --topic T (--to-earliest | --to-latest | --to-datetime ISO | --shift-by N)
                              [--dry-run]     only while the group has no members; prints each partition's
                                              new offset (--dry-run: commits nothing). --topic repeats;
                                              --to-datetime: YYYY-MM-DDTHH:mm[:ss[.sss]][Z|+hh:mm] (no zone: local
                                              time), the first record at or after it, else the log end;
                                              --shift-by: from the committed offset, clamped to the log`

const OPTIONS = {
  topic: { type: 'string', short: 't', multiple: true },
  'to-earliest': { type: 'boolean', default: false },
  'to-latest': { type: 'boolean', default: false },
  'to-datetime': { type: 'string' },
  'shift-by': { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  isolation: { type: 'string' },
} as const

/** Where reset-offsets moves each partition. */
type ResetTarget = { kind: 'earliest' } | { kind: 'latest' } | { kind: 'datetime'; timestampMs: number } | { kind: 'shift'; by: bigint }

/** One partition of a reset: where the group was, where it goes, and the bounds it was clamped to. */
interface PlannedOffset {
  topic: string
  partition: number
  /** null: the group had committed nothing for it. */
  committed: bigint | null
  newOffset: bigint
  logStartOffset: bigint
  highWatermark: bigint
}

type Out = (text: string) => void

export async function groupsCommand(argv: string[], connect: Connect, out: Out): Promise<void> {
  const { values, positionals } = parse(joinNegativeShift(argv), OPTIONS)
  const [action, groupId, ...extra] = positionals
  if (values.help || action === undefined) return out(GROUPS_USAGE)
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}".`)
  if (action !== 'list' && action !== 'describe' && action !== 'reset-offsets') throw new UsageError(`Unknown action "${action}"; expected list, describe or reset-offsets.`)
  if (action === 'list' && groupId !== undefined) throw new UsageError(`Unexpected argument "${groupId}".`)
  if (action !== 'list' && groupId === undefined) throw new UsageError(`strand groups ${action} needs a group id.`)
  const target = action === 'reset-offsets' ? resetTargetOf(values) : null
  const topics = [...new Set(values.topic ?? [])]
  if (action === 'reset-offsets' && topics.length === 0) throw new UsageError('strand groups reset-offsets needs --topic T (one or more).')
  if (action !== 'reset-offsets' && (topics.length > 0 || values['dry-run'])) throw new UsageError('--topic and --dry-run are options of strand groups reset-offsets.')
  const isolation = values.isolation ?? 'read_uncommitted'
  if (values.isolation !== undefined && action !== 'describe') throw new UsageError('--isolation is an option of strand groups describe.')
  if (isolation !== 'read_uncommitted' && isolation !== 'read_committed') throw new UsageError(`--isolation must be read_uncommitted or read_committed, not "${isolation}".`)
  const strand = connect(values)
  try {
    const admin = strand.admin()
    if (action === 'list') {
      const groups = await admin.listGroups()
      if (values.json) return out(toJson({ groups }))
      return out(groups.length === 0 ? 'No consumer groups.' : table(['GROUP', 'STATE', 'PROTOCOL TYPE'], groups.map((g) => [g.groupId, g.state, g.protocolType || '-'])))
    }
    if (action === 'describe') return out(await describe(admin, groupId!, { json: values.json, isolation }))
    const plan = await planReset(admin, groupId!, topics, target!)
    if (!values['dry-run']) await commitPlan(admin, groupId!, plan)
    if (values.json) return out(toJson({ groupId, dryRun: values['dry-run'], partitions: plan }))
    const title = values['dry-run'] ? `Group ${groupId}: planned offsets (dry run, nothing committed)` : `Group ${groupId}: offsets reset`
    const rows = plan.map((p) => [p.topic, p.partition, p.committed ?? '-', p.newOffset, p.logStartOffset, p.highWatermark])
    out(`${title}\n${table(['TOPIC', 'PARTITION', 'WAS', 'NEW OFFSET', 'LOG START', 'LOG END'], rows)}`)
  } finally {
    await strand.close()
  }
}

/**
 * `--shift-by -5` as `--shift-by=-5`: parseArgs reads a value starting with a dash as a missing
 * value, and a negative shift is the usual one ("go back 5").
 */
function joinNegativeShift(argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1]
    if (argv[i] === '--shift-by' && next !== undefined && /^-\d+$/.test(next)) {
      out.push(`--shift-by=${next}`)
      i++
    } else {
      out.push(argv[i]!)
    }
  }
  return out
}

const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?$/

function resetTargetOf(values: { 'to-earliest': boolean; 'to-latest': boolean; 'to-datetime'?: string | undefined; 'shift-by'?: string | undefined }): ResetTarget {
  const given = [values['to-earliest'], values['to-latest'], values['to-datetime'] !== undefined, values['shift-by'] !== undefined].filter(Boolean).length
  if (given !== 1) throw new UsageError(`strand groups reset-offsets needs exactly one of --to-earliest, --to-latest, --to-datetime, --shift-by (got ${given}).`)
  if (values['to-earliest']) return { kind: 'earliest' }
  if (values['to-latest']) return { kind: 'latest' }
  const datetime = values['to-datetime']
  if (datetime !== undefined) {
    const timestampMs = DATETIME.test(datetime) ? Date.parse(datetime) : Number.NaN
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) throw new UsageError(`--to-datetime wants an ISO date-time such as 2026-11-25T09:30:00Z, got "${datetime}".`)
    return { kind: 'datetime', timestampMs }
  }
  const shift = values['shift-by']!
  if (!/^[+-]?\d{1,18}$/.test(shift)) throw new UsageError(`--shift-by must be an integer (negative goes back), got "${shift}".`)
  return { kind: 'shift', by: BigInt(shift) }
}

/**
 * The group and its partitions. Under read_committed the log end is the last stable offset: a
 * read_committed consumer cannot read past an open transaction's first record, so that is where
 * its lag is measured from (the high watermark would count records it cannot have yet).
 */
async function describe(admin: Admin, groupId: string, options: { json: boolean; isolation: 'read_uncommitted' | 'read_committed' }): Promise<string> {
  const { json, isolation } = options
  const [group, committed] = await Promise.all([admin.describeGroup(groupId), admin.groupOffsets(groupId, { isolationLevel: isolation })])
  const owners = new Map<string, { memberId: string; clientId: string }>()
  for (const m of group.members) for (const a of m.assignment) owners.set(`${a.topic}\u0000${a.partition}`, { memberId: m.memberId, clientId: m.clientId })
  const rows = committed.map((c) => ({ topic: c.topic, partition: c.partition, committed: c.committed as bigint | null, highWatermark: c.highWatermark, lag: c.lag as bigint | null }))
  // Assigned partitions the group has not committed yet: no lag to show, but their owner and log end.
  const uncommitted = group.members.flatMap((m) => m.assignment).filter((a) => !committed.some((c) => c.topic === a.topic && c.partition === a.partition))
  for (const a of uncommitted) {
    const end = await admin.listOffsets({ topic: a.topic, partition: a.partition, timestamp: 'latest', isolationLevel: isolation })
    rows.push({ topic: a.topic, partition: a.partition, committed: null, highWatermark: end.offset, lag: null })
  }
  rows.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
  const partitions = rows.map((r) => {
    const owner = owners.get(`${r.topic}\u0000${r.partition}`)
    return { ...r, memberId: owner?.memberId ?? null, clientId: owner?.clientId ?? null }
  })
  if (json) return toJson({ ...group, isolation, partitions })
  const idle = group.members.filter((m) => m.assignment.length === 0).map((m) => ['-', '-', '-', '-', '-', m.memberId, m.clientId])
  const body = table(
    ['TOPIC', 'PARTITION', 'COMMITTED', isolation === 'read_committed' ? 'LAST STABLE' : 'LOG END', 'LAG', 'MEMBER', 'CLIENT ID'],
    [...partitions.map((p) => [p.topic, p.partition, p.committed ?? '-', p.highWatermark, p.lag ?? '-', p.memberId ?? '-', p.clientId ?? '-']), ...idle],
  )
  return `${groupHeadline(group)}\n\n${body}`
}

function groupHeadline(g: GroupDescription): string {
  const members = `${g.members.length} member${g.members.length === 1 ? '' : 's'}`
  return `Group ${g.groupId}: state ${g.state}, generation ${g.generationId}, protocol ${g.protocol || '-'} (${g.protocolType || '-'}), coordinator broker ${g.coordinatorId}, ${members}`
}

/** The group's members; none for a group the coordinator does not know (it may be reset: Kafka's rule). */
async function membersOf(admin: Admin, groupId: string): Promise<GroupDescription | null> {
  try {
    return await admin.describeGroup(groupId)
  } catch (err) {
    if (err instanceof StrandProtocolError && err.code === 'GROUP_ID_NOT_FOUND') return null
    throw err
  }
}

/** Each partition of `topics` with its new offset; refuses while the group has members. */
async function planReset(admin: Admin, groupId: string, topics: readonly string[], target: ResetTarget): Promise<PlannedOffset[]> {
  const group = await membersOf(admin, groupId)
  if (group !== null && group.members.length > 0) {
    throw new CommandFailedError(
      `Group "${groupId}" has ${group.members.length} active member${group.members.length === 1 ? '' : 's'} (state ${group.state}): ` +
        'offsets can only be reset while the group has none. Stop its consumers first (a crashed one leaves after its session timeout).',
    )
  }
  const md = await admin.metadata(topics)
  const committed = new Map((await admin.groupOffsets(groupId)).map((c) => [`${c.topic}\u0000${c.partition}`, c.committed]))
  const partitions = topics.flatMap((topic) => (md.topics.find((t) => t.name === topic)?.partitions ?? []).map((p) => ({ topic, partition: p.partition })))
  const plan = await Promise.all(
    partitions.map(async ({ topic, partition }): Promise<PlannedOffset> => {
      const [start, end] = await Promise.all([
        admin.listOffsets({ topic, partition, timestamp: 'earliest' }),
        admin.listOffsets({ topic, partition, timestamp: 'latest' }),
      ])
      const current = committed.get(`${topic}\u0000${partition}`) ?? null
      const wanted = await targetOffset(admin, { topic, partition, committed: current, highWatermark: end.offset }, target)
      const newOffset = wanted < start.offset ? start.offset : wanted > end.offset ? end.offset : wanted
      return { topic, partition, committed: current, newOffset, logStartOffset: start.offset, highWatermark: end.offset }
    }),
  )
  return plan.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
}

/** The offset `target` asks for, before clamping to the log. */
async function targetOffset(admin: Admin, p: { topic: string; partition: number; committed: bigint | null; highWatermark: bigint }, target: ResetTarget): Promise<bigint> {
  if (target.kind === 'earliest') return 0n
  if (target.kind === 'latest') return p.highWatermark
  if (target.kind === 'datetime') {
    const found = await admin.listOffsets({ topic: p.topic, partition: p.partition, timestamp: target.timestampMs })
    // No record that recent: the log end, as Kafka's --to-datetime (and a consumer's seek by time).
    return found.offset < 0n ? p.highWatermark : found.offset
  }
  if (p.committed === null) throw new CommandFailedError(`The group has no committed offset for ${p.topic}-${p.partition} to shift; use --to-earliest, --to-latest or --to-datetime for it.`)
  return p.committed + target.by
}

async function commitPlan(admin: Admin, groupId: string, plan: readonly PlannedOffset[]): Promise<void> {
  try {
    await admin.commitGroupOffsets(groupId, plan.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.newOffset })))
  } catch (err) {
    // The coordinator refuses the whole commit when a member joined since the check above.
    if (err instanceof CommitFailedError && err.results.some((r) => r.error?.code === 'UNKNOWN_MEMBER_ID')) {
      const done = err.results.filter((r) => r.error === null).length
      throw new CommandFailedError(`A member joined group "${groupId}" while its offsets were being reset; ${done} of ${err.results.length} partitions were committed. Stop its consumers and run the reset again.`)
    }
    throw err
  }
}
