// The membership state machine against a scripted coordinator: join with '' and take the id
// given, the leader assigns and syncs, heartbeats keep running while the owner is slow to give
// partitions up, REBALANCE_IN_PROGRESS rejoins with the same id, UNKNOWN_MEMBER_ID loses the
// partitions and rejoins with '', coordinator errors find the coordinator again, a fatal error
// stops it, close() leaves the group.

import t from 'tap'
import { ApiKey, type ApiKeyValue, type ApiTypes } from '../../../client/protocol/apis.js'
import { errorCodeOf, type WireErrorName } from '../../../client/protocol/errors.js'
import type { GroupCoordinator } from '../../../client/group/coordinator.js'
import { Membership, type MembershipHooks } from '../../../client/group/membership.js'
import { resolveAssignors, type AssignedPartition } from '../../../client/group/assignors.js'
import { decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription } from '../../../client/group/protocol.js'
import type { GroupGeneration } from '../../../client/group/offsets.js'
import { ConnectionError } from '../../../client/errors.js'
import { waitFor } from '../../helpers/wait.js'

type Handler = (apiKey: ApiKeyValue, body: unknown) => unknown
interface Sent {
  apiKey: ApiKeyValue
  body: any
  atMs: number
}

/** Stands in for GroupCoordinator: records requests, answers with `handle`. */
class ScriptedCoordinator {
  readonly groupId = 'g'
  readonly nodeId = 1
  sent: Sent[] = []
  resets = 0
  handle: Handler = () => {
    throw new Error('no handler')
  }

  async request<K extends ApiKeyValue>(apiKey: K, body: ApiTypes[K]['request']): Promise<ApiTypes[K]['response']> {
    this.sent.push({ apiKey, body, atMs: Date.now() })
    await Promise.resolve()
    return (await this.handle(apiKey, body)) as ApiTypes[K]['response']
  }

  reset(): void {
    this.resets++
  }

  of(apiKey: ApiKeyValue): any[] {
    return this.sent.filter((s) => s.apiKey === apiKey).map((s) => s.body)
  }
}

const code = (name: WireErrorName): number => errorCodeOf(name)

function joinAnswer(memberId: string, generationId: number, options: { leader?: boolean; others?: string[]; errorCode?: number } = {}): ApiTypes[11]['response'] {
  const leader = options.leader ?? true
  const metadata = encodeSubscription({ topics: ['orders'], ownedPartitions: [], userData: null })
  const members = leader ? [memberId, ...(options.others ?? [])].map((m) => ({ memberId: m, groupInstanceId: null, metadata })) : []
  return { throttleTimeMs: 0, errorCode: options.errorCode ?? 0, generationId, protocolType: 'consumer', protocolName: 'range', leader: leader ? memberId : 'someone-else', memberId, members }
}

function syncAnswer(partitions: number[], errorCode = 0): ApiTypes[14]['response'] {
  const assignment = encodeAssignment({ partitions: [{ topic: 'orders', partitions }], userData: null })
  return { throttleTimeMs: 0, errorCode, protocolType: 'consumer', protocolName: 'range', assignment }
}

interface Recorder extends MembershipHooks {
  events: string[]
  assignments: Array<{ partitions: AssignedPartition[]; generation: GroupGeneration }>
  revokeDelay: Promise<void>
}

function recorder(): Recorder {
  const r: Recorder = {
    events: [],
    assignments: [],
    revokeDelay: Promise.resolve(),
    async revoke(generation) {
      r.events.push(`revoke:${generation.generationId}`)
      await r.revokeDelay
    },
    lost() {
      r.events.push('lost')
    },
    assigned(partitions, generation) {
      r.events.push(`assigned:${generation.generationId}`)
      r.assignments.push({ partitions, generation })
    },
    failed(err) {
      r.events.push(`failed:${err.code}`)
    },
  }
  return r
}

function membership(coordinator: ScriptedCoordinator, hooks: MembershipHooks, overrides: Partial<ConstructorParameters<typeof Membership>[0]> = {}): Membership {
  return new Membership({
    coordinator: coordinator as unknown as GroupCoordinator,
    topics: ['orders'],
    assignors: resolveAssignors(undefined),
    sessionTimeoutMs: 1_000,
    rebalanceTimeoutMs: 2_000,
    heartbeatIntervalMs: 20,
    requestTimeoutMs: 1_000,
    retry: { retriesMax: 5, retryBackoffMs: 5, retryBackoffMsMax: 20 },
    clock: Date.now,
    partitionCounts: async (topics) => new Map(topics.map((x) => [x, 6])),
    hooks,
    ...overrides,
  })
}

/** A coordinator for one member: join gives `memberId` at generation `gen`, heartbeats answer `beat()`. */
function oneMemberGroup(c: ScriptedCoordinator, beat: () => WireErrorName | 'NONE' = () => 'NONE'): { generation: () => number } {
  let generation = 0
  let ids = 0
  c.handle = (apiKey, body: any) => {
    if (apiKey === ApiKey.JoinGroup) return joinAnswer(body.memberId === '' ? `m${++ids}` : body.memberId, ++generation)
    if (apiKey === ApiKey.SyncGroup) {
      const mine = body.assignments.find((a: any) => a.memberId === body.memberId)
      return { throttleTimeMs: 0, errorCode: 0, protocolType: 'consumer', protocolName: 'range', assignment: mine?.assignment ?? Buffer.alloc(0) }
    }
    if (apiKey === ApiKey.Heartbeat) {
      const name = beat()
      return { throttleTimeMs: 0, errorCode: name === 'NONE' ? 0 : code(name) }
    }
    if (apiKey === ApiKey.LeaveGroup) return { throttleTimeMs: 0, errorCode: 0, members: [] }
    throw new Error(`unexpected API ${apiKey}`)
  }
  return { generation: () => generation }
}

t.test('joins with an empty id, leads, assigns every partition to itself, then heartbeats', async (t) => {
  const c = new ScriptedCoordinator()
  oneMemberGroup(c)
  const hooks = recorder()
  const m = membership(c, hooks)
  t.teardown(() => m.close())
  m.start()
  await m.joined()
  const join = c.of(ApiKey.JoinGroup)[0]
  t.equal(join.memberId, '', 'the first JoinGroup has no member id')
  t.equal(join.protocolType, 'consumer')
  t.same(join.protocols.map((p: any) => p.name), ['range', 'roundrobin'], 'assignors in order of preference')
  t.same(decodeSubscription(join.protocols[0].metadata).topics, ['orders'], 'the subscription travels as metadata')
  t.ok(join.rebalanceTimeoutMs === 2_000 && join.sessionTimeoutMs === 1_000, 'timeouts from the options')
  const sync = c.of(ApiKey.SyncGroup)[0]
  t.equal(sync.generationId, 1)
  t.same(decodeAssignment(sync.assignments[0].assignment).partitions, [{ topic: 'orders', partitions: [0, 1, 2, 3, 4, 5] }], 'the leader sends its assignment')
  t.same(hooks.assignments[0]?.partitions.map((p) => p.partition), [0, 1, 2, 3, 4, 5])
  t.same(m.generation(), { generationId: 1, memberId: 'm1' })
  await waitFor(() => c.of(ApiKey.Heartbeat).length >= 3, { what: 'heartbeats' })
  t.same(c.of(ApiKey.Heartbeat)[0], { groupId: 'g', generationId: 1, memberId: 'm1', groupInstanceId: null })
})

t.test('REBALANCE_IN_PROGRESS: revoke (heartbeats go on while the owner finishes), rejoin with the same id', async (t) => {
  const c = new ScriptedCoordinator()
  let rebalancing = false
  oneMemberGroup(c, () => (rebalancing ? 'REBALANCE_IN_PROGRESS' : 'NONE'))
  const hooks = recorder()
  let finish!: () => void
  hooks.revokeDelay = new Promise((resolve) => (finish = resolve))
  const m = membership(c, hooks)
  t.teardown(() => m.close())
  m.start()
  await m.joined()
  rebalancing = true
  await waitFor(() => hooks.events.includes('revoke:1'), { what: 'the revoke hook' })
  t.equal(m.state, 'revoking')
  const beatsAtRevoke = c.of(ApiKey.Heartbeat).length
  // A slow owner: many heartbeat intervals pass, and heartbeats keep the session alive.
  await waitFor(() => c.of(ApiKey.Heartbeat).length >= beatsAtRevoke + 5, { what: 'heartbeats during the revoke' })
  t.equal(c.of(ApiKey.JoinGroup).length, 1, 'no JoinGroup before the partitions are given up')
  rebalancing = false
  const joined = m.joined()
  finish()
  await joined
  t.equal(c.of(ApiKey.JoinGroup)[1].memberId, 'm1', 'rejoins with its member id')
  t.same(hooks.events, ['assigned:1', 'revoke:1', 'assigned:2'])
  t.equal(c.of(ApiKey.JoinGroup).length, 2, 'one rebalance, though heartbeats said REBALANCE_IN_PROGRESS many times')
})

t.test('UNKNOWN_MEMBER_ID from a heartbeat: partitions lost (no revoke, no commit), rejoin with an empty id', async (t) => {
  const c = new ScriptedCoordinator()
  let evicted = false
  oneMemberGroup(c, () => (evicted ? 'UNKNOWN_MEMBER_ID' : 'NONE'))
  const hooks = recorder()
  const m = membership(c, hooks)
  t.teardown(() => m.close())
  m.start()
  await m.joined()
  const joined = m.joined()
  evicted = true
  await joined
  evicted = false
  t.same(hooks.events, ['assigned:1', 'lost', 'assigned:2'])
  t.equal(c.of(ApiKey.JoinGroup)[1].memberId, '', 'rejoins as a new member')
  t.same(m.generation(), { generationId: 2, memberId: 'm2' })
})

t.test('a follower sends no assignment and takes what the leader gave it; REBALANCE_IN_PROGRESS from SyncGroup rejoins', async (t) => {
  const c = new ScriptedCoordinator()
  let syncs = 0
  c.handle = (apiKey, body: any) => {
    if (apiKey === ApiKey.JoinGroup) return joinAnswer('f1', 7, { leader: false })
    if (apiKey === ApiKey.SyncGroup) return ++syncs === 1 ? syncAnswer([], code('REBALANCE_IN_PROGRESS')) : syncAnswer([4, 5])
    if (apiKey === ApiKey.Heartbeat) return { throttleTimeMs: 0, errorCode: 0 }
    return { throttleTimeMs: 0, errorCode: 0, members: [] }
  }
  const hooks = recorder()
  const m = membership(c, hooks)
  t.teardown(() => m.close())
  m.start()
  await m.joined()
  t.same(c.of(ApiKey.SyncGroup).map((s) => s.assignments), [[], []], 'followers send no assignments')
  t.equal(c.of(ApiKey.JoinGroup).length, 2, 'joined again after REBALANCE_IN_PROGRESS')
  t.same(hooks.assignments[0]?.partitions, [{ topic: 'orders', partition: 4 }, { topic: 'orders', partition: 5 }])
})

t.test('NOT_COORDINATOR and COORDINATOR_NOT_AVAILABLE: find the coordinator again and retry', async (t) => {
  const c = new ScriptedCoordinator()
  const errors: WireErrorName[] = ['COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR', 'COORDINATOR_LOAD_IN_PROGRESS']
  const { generation } = oneMemberGroup(c)
  const inner = c.handle
  c.handle = (apiKey, body) => {
    const next = errors.shift()
    if (apiKey === ApiKey.JoinGroup && next !== undefined) return joinAnswer('', -1, { errorCode: code(next) })
    return inner(apiKey, body)
  }
  const hooks = recorder()
  const m = membership(c, hooks)
  t.teardown(() => m.close())
  m.start()
  await m.joined()
  t.equal(c.of(ApiKey.JoinGroup).length, 4, 'three failed joins, then one that worked')
  t.equal(c.resets, 3, 'the coordinator was looked up again after each')
  t.equal(generation(), 1)
})

t.test('a fatal join error stops the membership and reaches the owner', async (t) => {
  const c = new ScriptedCoordinator()
  c.handle = () => joinAnswer('', -1, { errorCode: code('INCONSISTENT_GROUP_PROTOCOL') })
  const hooks = recorder()
  const m = membership(c, hooks)
  t.teardown(() => m.close())
  m.start()
  await t.rejects(m.joined(), { code: 'INCONSISTENT_GROUP_PROTOCOL' })
  t.same(hooks.events, ['failed:INCONSISTENT_GROUP_PROTOCOL'])
  t.equal(m.state, 'failed')
})

t.test('no heartbeat answer for a whole session: the member counts itself evicted and rejoins', async (t) => {
  const c = new ScriptedCoordinator()
  let down = false
  const { generation } = oneMemberGroup(c)
  const inner = c.handle
  c.handle = (apiKey, body) => {
    if (down && apiKey === ApiKey.Heartbeat) throw new ConnectionError('127.0.0.1:1', 'connection refused')
    return inner(apiKey, body)
  }
  const hooks = recorder()
  const m = membership(c, hooks, { sessionTimeoutMs: 200 })
  t.teardown(() => m.close())
  m.start()
  await m.joined()
  down = true
  await waitFor(() => hooks.events.includes('lost'), { what: 'the member to give its partitions up' })
  down = false
  await waitFor(() => generation() === 2, { what: 'a rejoin' })
  t.equal(c.of(ApiKey.JoinGroup)[1].memberId, '')
})

t.test('the leader rebalances when a subscribed topic gains partitions', async (t) => {
  const c = new ScriptedCoordinator()
  const { generation } = oneMemberGroup(c)
  let partitions = 6
  const hooks = recorder()
  let checks = 0
  const m = membership(c, hooks, {
    topicCheckIntervalMs: 100,
    partitionCounts: async (topics) => {
      checks++
      return new Map(topics.map((x) => [x, partitions]))
    },
  })
  t.teardown(() => m.close())
  m.start()
  await m.joined()
  await waitFor(() => checks >= 3, { what: 'the leader to check the topics' })
  t.equal(generation(), 1, 'no rebalance while nothing changed')
  t.ok(checks < c.of(ApiKey.Heartbeat).length, `checked on its own interval (${checks} checks), not on every heartbeat (${c.of(ApiKey.Heartbeat).length})`)
  partitions = 8
  await waitFor(() => hooks.assignments.length === 2, { what: 'a rebalance after the partition count changed' })
  t.equal(generation(), 2)
  t.equal(hooks.assignments[1]?.partitions.length, 8, 'the new partitions are assigned')
})

t.test('close() leaves the group with its member id and stops heartbeating', async (t) => {
  const c = new ScriptedCoordinator()
  oneMemberGroup(c)
  const hooks = recorder()
  const m = membership(c, hooks)
  m.start()
  await m.joined()
  await m.close()
  t.same(c.of(ApiKey.LeaveGroup), [{ groupId: 'g', members: [{ memberId: 'm1', groupInstanceId: null }] }])
  t.equal(m.state, 'closed', 'closed: heartbeats are sent only while stable or revoking')
  t.equal(m.generation(), null)
  await t.rejects(m.joined(), { code: 'CLIENT_CLOSED' })
})
