// What the fuzzer must not send: requests that would decode, and then legitimately change the
// cluster's state, rather than test its robustness.
//
// - Broker-to-broker APIs (Vote, AppendEntries, InstallSnapshot, BrokerRegistration,
//   BrokerHeartbeat, AlterPartition, AllocateProducerIds, ControlledShutdown) and a Fetch with
//   replicaId >= 0 (a follower's fetch, which moves the high watermark): on a listener without
//   SASL, with no ACL, any client may send them and the broker acts on a well-formed one. That is
//   the open cluster's authorization, not a robustness bug, so only the malformed ones are sent.
// - CreateTopics that would create many partitions or topics (PARTITIONS_PER_TOPIC_MAX is 10,000
//   per topic, each a directory and files on three brokers): a small budget per run.
// - DeleteTopics of the healthy client's topic.
// - CreateAcls of an ACL the broker would accept: with no ACL at all the cluster is open, and the
//   first ACL makes it deny what no ACL allows (broker/security/authorizer.ts), which stops the
//   healthy client (anonymous without SASL; the fuzzer's own non-super user with it). That is
//   the authorizer doing its job, not a robustness bug. Invalid bindings are still sent.
// - AlterUserScramCredentials touching the fuzzer's own SASL users (their passwords would change
//   under the sockets logging in with them).
//
// On a listener that requires SASL, what a frame may do depends on the socket's session:
// - before authentication, any API other than ApiVersions, SaslHandshake and SaslAuthenticate
//   closes the connection before its body is decoded (broker/server/dispatch.ts), so nothing is
//   forbidden there: well-formed broker-to-broker requests are sent on purpose, to show the gate;
// - authenticated as the fuzzer's non-super user, broker-to-broker APIs and replica fetches
//   (cluster_action), and ACL and user changes (alter on the cluster), are refused with
//   CLUSTER_AUTHORIZATION_FAILED by the authorization gate before their handler, even with no
//   ACL at all (broker/security/authorizer.ts, request-auth.ts), so they are sent too: the gate
//   is what is fuzzed; the topic rules stay;
// - authenticated as the brokers' own user (a super user), every rule above applies.
//
// The broker sees a byte stream, not the fuzzer's writes: a lying size prefix shifts where every
// later frame starts. So each socket keeps a shadow of the broker's framing, and a write is judged
// by every frame it would complete, exactly as the broker would split and decode them.

import { ApiKey, apiName, decodeRequestBody, decodeRequestHeader } from '../../client/protocol/apis.js'
import { StrandProtocolError } from '../../client/protocol/errors.js'
import type { CreateTopicsRequest } from '../../client/protocol/messages/create-topics.js'
import type { AlterUserScramCredentialsRequest, CreateAclsRequest } from '../../client/protocol/messages/security.js'
import { aclFromWire } from '../../broker/server/handlers/security.js'
import type { DeleteTopicsRequest } from '../../client/protocol/messages/delete-topics.js'
import type { FetchRequest } from '../../client/protocol/messages/fetch.js'

export const PROTECTED_API_KEYS: ReadonlySet<number> = new Set([
  ApiKey.Vote,
  ApiKey.AppendEntries,
  ApiKey.InstallSnapshot,
  ApiKey.BrokerRegistration,
  ApiKey.BrokerHeartbeat,
  ApiKey.AlterPartition,
  ApiKey.AllocateProducerIds,
  ApiKey.ControlledShutdown,
])
/** A well-formed CreateTopics may make at most this many topics... */
export const CREATE_TOPICS_PER_REQUEST_MAX = 2
/** ...of at most this many partitions each... */
export const CREATE_PARTITIONS_PER_TOPIC_MAX = 8
/** ...and the whole run at most this many topics (requests that would fail count too). */
export const CREATE_TOPICS_PER_RUN_MAX = 30

/** APIs a session may send before it has authenticated (as broker/server/dispatch.ts). */
export const PRE_AUTH_API_KEYS: ReadonlySet<number> = new Set([ApiKey.ApiVersions, ApiKey.SaslHandshake, ApiKey.SaslAuthenticate])

export interface GuardContext {
  /** The healthy client's topic: never deleted. */
  healthyTopic: string
  /** Topics a well-formed CreateTopics may still create in this run. */
  topicsLeft: number
  /** The fuzzer's own SASL users: never altered or deleted. */
  ownUsers: readonly string[]
  /** Other topics never deleted (the Kafka listener's verifier's, kafka-guard.ts). */
  protectedTopics?: readonly string[]
}

/**
 * Who a socket speaks as: 'open' on a listener without SASL; on one with SASL, 'preAuth' until it
 * authenticates, then 'super' (the brokers' own user) or 'user' (the fuzzer's non-super user).
 */
export type SessionKind = 'open' | 'preAuth' | 'super' | 'user'

export type Judgement =
  /** The broker cannot read its header or body: it answers what came before, then closes. */
  | { kind: 'undecodable' }
  /** Another API before SASL authentication: the broker closes the connection without decoding its body. */
  | { kind: 'unauthenticated' }
  /** The broker answers it (an unknown API or version gets UNSUPPORTED_VERSION). */
  | { kind: 'answered'; creates: number }
  /** Must not be sent. */
  | { kind: 'forbidden'; reason: string }

/** How the broker would take this frame body from a `session` socket, decoded exactly as broker/server/dispatch.ts does. */
export function judge(body: Buffer, ctx: GuardContext, session: SessionKind = 'open'): Judgement {
  let header
  let request: unknown
  try {
    header = decodeRequestHeader(body)
  } catch {
    return { kind: 'undecodable' }
  }
  if (session === 'preAuth' && !PRE_AUTH_API_KEYS.has(header.apiKey)) return { kind: 'unauthenticated' }
  try {
    request = decodeRequestBody(header.apiKey, header.apiVersion, body, header.bodyOffset)
  } catch (err) {
    return err instanceof StrandProtocolError && err.code === 'UNSUPPORTED_VERSION' ? { kind: 'answered', creates: 0 } : { kind: 'undecodable' }
  }
  const gated = session === 'user'
  if (!gated && PROTECTED_API_KEYS.has(header.apiKey)) return { kind: 'forbidden', reason: `well-formed ${apiName(header.apiKey)}` }
  if (!gated && header.apiKey === ApiKey.Fetch && (request as FetchRequest).replicaId >= 0) return { kind: 'forbidden', reason: 'well-formed follower Fetch (replicaId >= 0)' }
  if (!gated && header.apiKey === ApiKey.CreateAcls && (request as CreateAclsRequest).creations.some((c) => typeof aclFromWire(c) !== 'string')) {
    return { kind: 'forbidden', reason: 'CreateAcls of a valid ACL' }
  }
  if (!gated && header.apiKey === ApiKey.AlterUserScramCredentials) {
    const alter = request as AlterUserScramCredentialsRequest
    if ([...alter.upsertions, ...alter.deletions].some((u) => ctx.ownUsers.includes(u.name))) return { kind: 'forbidden', reason: "AlterUserScramCredentials of the fuzzer's own users" }
  }
  if (header.apiKey === ApiKey.DeleteTopics && (request as DeleteTopicsRequest).topicNames.includes(ctx.healthyTopic)) {
    return { kind: 'forbidden', reason: 'DeleteTopics of the healthy topic' }
  }
  if (header.apiKey === ApiKey.CreateTopics && !(request as CreateTopicsRequest).validateOnly) {
    const topics = (request as CreateTopicsRequest).topics
    if (topics.length > CREATE_TOPICS_PER_REQUEST_MAX) return { kind: 'forbidden', reason: `CreateTopics of more than ${CREATE_TOPICS_PER_REQUEST_MAX} topics` }
    if (topics.some((t) => t.numPartitions > CREATE_PARTITIONS_PER_TOPIC_MAX)) return { kind: 'forbidden', reason: `CreateTopics of more than ${CREATE_PARTITIONS_PER_TOPIC_MAX} partitions` }
    if (topics.length > ctx.topicsLeft) return { kind: 'forbidden', reason: `CreateTopics past the run's ${CREATE_TOPICS_PER_RUN_MAX} topics` }
    return { kind: 'answered', creates: topics.length }
  }
  return { kind: 'answered', creates: 0 }
}

/** The broker's view of one socket's byte stream: where frames start, and whether it has given up. */
export class ShadowFraming {
  #frameBytesMax: number
  /** Bytes written that do not complete a frame yet, as written. */
  #pending: Buffer[] = []
  #pendingBytes = 0
  /** A size prefix the broker refuses was written: it reads nothing after it. */
  #dead = false

  constructor(frameBytesMax: number) {
    this.#frameBytesMax = frameBytesMax
  }

  /** True while the broker holds part of a frame from this socket. */
  get partial(): boolean {
    return !this.#dead && this.#pendingBytes > 0
  }

  get dead(): boolean {
    return this.#dead
  }

  /** Changes the frame limit, as the broker does once a connection authenticates (only between frames). */
  set frameBytesMax(bytes: number) {
    this.#frameBytesMax = bytes
  }

  /**
   * The frame bodies `chunk` would complete, and a commit to call once it is written. Frames
   * before a refused size prefix are returned too: the broker may have dispatched them already.
   */
  preview(chunk: Buffer): { frames: Buffer[]; commit: () => void } {
    if (this.#dead) return { frames: [], commit: () => undefined }
    const total = this.#pendingBytes + chunk.length
    const size = this.#peekSize(chunk)
    // Writes to a socket waiting on a long frame only add to it: no copy.
    if (size === null || (size >= 0 && size <= this.#frameBytesMax && total < 4 + size)) {
      return { frames: [], commit: () => this.#append(chunk) }
    }
    const stream = Buffer.concat([...this.#pending, chunk], total)
    const frames: Buffer[] = []
    let pos = 0
    let dead = false
    while (stream.length - pos >= 4) {
      const size = stream.readInt32BE(pos)
      if (size < 0 || size > this.#frameBytesMax) {
        dead = true
        break
      }
      if (stream.length - pos - 4 < size) break
      frames.push(stream.subarray(pos + 4, pos + 4 + size))
      pos += 4 + size
    }
    return {
      frames,
      commit: () => {
        this.#dead = dead
        const rest = dead ? Buffer.alloc(0) : stream.subarray(pos)
        this.#pending = rest.length > 0 ? [rest] : []
        this.#pendingBytes = rest.length
      },
    }
  }

  /** The size prefix of the frame the broker is assembling, once its 4 bytes are there. */
  #peekSize(chunk: Buffer): number | null {
    const head = Buffer.alloc(4)
    let filled = 0
    for (const b of [...this.#pending, chunk]) {
      filled += b.copy(head, filled, 0, Math.min(b.length, 4 - filled))
      if (filled === 4) return head.readInt32BE(0)
    }
    return null
  }

  #append(chunk: Buffer): void {
    this.#pending.push(chunk)
    this.#pendingBytes += chunk.length
  }
}
