// Partition assignors: the group leader runs one of them over every member's subscription and the
// topics' partition counts, and sends the result in its SyncGroup. Pure functions of their input:
// the same members and partition counts give the same assignment, whichever member leads.
//
// Both built-in assignors are Kafka's, so a mixed group behaves as operators expect:
// - 'range' (RangeAssignor): per topic, the subscribed members sorted by member id each get a
//   contiguous range; the first (partitions % members) get one more. Co-partitioned topics land
//   together (partition 3 of two topics goes to the same member), which joins of keyed topics need.
// - 'roundrobin' (RoundRobinAssignor): every subscribed topic-partition, sorted by topic then
//   partition, dealt in turn to the members sorted by member id, skipping members not subscribed
//   to its topic. Better balance across many topics; no co-partitioning.
// Neither is sticky: a rebalance may move partitions that did not need to move. The consumer
// revokes every partition before rejoining (the eager protocol), so that costs a re-fetch of the
// committed offsets, never a double assignment.

import { InvalidArgumentError } from '../errors.js'

export interface AssignorMember {
  memberId: string
  /** Topics the member subscribed to. */
  topics: readonly string[]
}

export interface AssignedPartition {
  topic: string
  partition: number
}

/** What a leader needs to assign partitions; a custom one is passed to `consumer({ assignors })`. */
export interface Assignor {
  /** The protocol name members advertise in JoinGroup; every member of a group must agree on its meaning. */
  readonly name: string
  /**
   * Returns each member's partitions (every member id present, possibly with none). Topics absent
   * from `partitionsPerTopic` (not created yet) get nothing.
   */
  assign(members: readonly AssignorMember[], partitionsPerTopic: ReadonlyMap<string, number>): Map<string, AssignedPartition[]>
}

export type AssignorName = 'range' | 'roundrobin'

function byId(a: AssignorMember, b: AssignorMember): number {
  return a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0
}

function emptyAssignment(members: readonly AssignorMember[]): Map<string, AssignedPartition[]> {
  return new Map(members.map((m) => [m.memberId, []]))
}

export const rangeAssignor: Assignor = {
  name: 'range',
  assign(members, partitionsPerTopic) {
    const out = emptyAssignment(members)
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort()
    for (const topic of topics) {
      const count = partitionsPerTopic.get(topic) ?? 0
      const subscribed = members.filter((m) => m.topics.includes(topic)).sort(byId)
      const per = Math.floor(count / subscribed.length)
      const extra = count % subscribed.length
      subscribed.forEach((m, i) => {
        const start = per * i + Math.min(i, extra)
        const length = per + (i < extra ? 1 : 0)
        const list = out.get(m.memberId) as AssignedPartition[]
        for (let p = start; p < start + length; p++) list.push({ topic, partition: p })
      })
    }
    return out
  },
}

export const roundRobinAssignor: Assignor = {
  name: 'roundrobin',
  assign(members, partitionsPerTopic) {
    const out = emptyAssignment(members)
    const sorted = [...members].sort(byId)
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort()
    let next = 0
    for (const topic of topics) {
      const count = partitionsPerTopic.get(topic) ?? 0
      for (let partition = 0; partition < count; partition++) {
        // Some member subscribes to every topic in the list, so this finds one within a lap.
        while (!(sorted[next % sorted.length] as AssignorMember).topics.includes(topic)) next++
        const m = sorted[next % sorted.length] as AssignorMember
        ;(out.get(m.memberId) as AssignedPartition[]).push({ topic, partition })
        next++
      }
    }
    return out
  },
}

export const BUILT_IN_ASSIGNORS: Readonly<Record<AssignorName, Assignor>> = { range: rangeAssignor, roundrobin: roundRobinAssignor }

/** Kafka's default order: range first; the coordinator picks the first protocol every member supports. */
export const DEFAULT_ASSIGNORS: readonly AssignorName[] = ['range', 'roundrobin']

/** Resolves names to assignors and checks the list (non-empty, no name twice). */
export function resolveAssignors(list: ReadonlyArray<AssignorName | Assignor> | undefined): Assignor[] {
  const resolved = (list ?? DEFAULT_ASSIGNORS).map((a) => {
    if (typeof a === 'string') {
      const builtIn = BUILT_IN_ASSIGNORS[a]
      if (builtIn === undefined) throw new InvalidArgumentError(`Unknown assignor "${a}": use 'range', 'roundrobin' or an Assignor object.`)
      return builtIn
    }
    if (typeof a?.name !== 'string' || a.name.length === 0 || typeof a.assign !== 'function') {
      throw new InvalidArgumentError('An assignor needs a non-empty name and an assign() function.')
    }
    return a
  })
  if (resolved.length === 0) throw new InvalidArgumentError('assignors must list at least one assignor.')
  const names = resolved.map((a) => a.name)
  if (new Set(names).size !== names.length) throw new InvalidArgumentError(`assignors lists a name twice: ${names.join(', ')}.`)
  return resolved
}

/**
 * Runs an assignor and checks what it returned: every member present, only subscribed topics
 * and existing partitions, and every partition of a subscribed topic given to exactly one member.
 * A custom assignor that breaks this would lose records or read them twice, so the leader refuses
 * to send it (a programmer error, thrown).
 */
export function runAssignor(assignor: Assignor, members: readonly AssignorMember[], partitionsPerTopic: ReadonlyMap<string, number>): Map<string, AssignedPartition[]> {
  const result = assignor.assign(members, partitionsPerTopic)
  const owner = new Map<string, string>()
  for (const m of members) {
    const list = result.get(m.memberId)
    if (list === undefined) throw new Error(`Assignor "${assignor.name}" left member ${m.memberId} out of its result.`)
    for (const tp of list) {
      const count = partitionsPerTopic.get(tp.topic) ?? 0
      if (!m.topics.includes(tp.topic) || !Number.isInteger(tp.partition) || tp.partition < 0 || tp.partition >= count) {
        throw new Error(`Assignor "${assignor.name}" gave ${m.memberId} ${tp.topic}-${tp.partition}, which it did not subscribe to or does not exist.`)
      }
      const key = `${tp.topic}-${tp.partition}`
      const previous = owner.get(key)
      if (previous !== undefined) throw new Error(`Assignor "${assignor.name}" gave ${key} to both ${previous} and ${m.memberId}.`)
      owner.set(key, m.memberId)
    }
  }
  for (const topic of new Set(members.flatMap((m) => m.topics))) {
    const count = partitionsPerTopic.get(topic) ?? 0
    for (let p = 0; p < count; p++) {
      if (!owner.has(`${topic}-${p}`)) throw new Error(`Assignor "${assignor.name}" left ${topic}-${p} unassigned.`)
    }
  }
  return result
}
