// The metadata quorum's Raft RPCs, broker to broker: Vote (key 52, as Kafka's), AppendEntries
// (key 1000: Strand's own push replication of the metadata log; Kafka's KRaft pulls with Fetch
// instead), InstallSnapshot (key 1001: the leader's snapshot of the metadata image, whole, for a
// voter that needs entries the leader has compacted away; Kafka's KRaft pulls it with
// FetchSnapshot), and DescribeQuorum (key 55) for tools and tests. Terms and voter ids are int32,
// log indexes int64. `errorCode` is FENCED_LEADER_EPOCH for a request from an older term and
// INCONSISTENT_VOTER_SET for one from a node that is not a voter; `term` always carries the
// responder's term, so a stale sender learns it and steps down.

import { array, boolean, bytes, int, long, record, string, type Value } from '../avro.js'

export const VoteRequestV0 = record('VoteRequestV0', { term: int, candidateId: int, lastLogIndex: long, lastLogTerm: int })
/**
 * PreVote (key 1003, Strand's own; KRaft puts the same question in Vote v2, KIP-996): would the
 * receiver vote for the sender in `term` (the sender's term + 1)? Nobody's term or vote changes.
 * `term` in the response is the receiver's current term.
 */
export const PreVoteRequestV0 = record('PreVoteRequestV0', { term: int, candidateId: int, lastLogIndex: long, lastLogTerm: int })
export const PreVoteResponseV0 = record('PreVoteResponseV0', { errorCode: int, term: int, granted: boolean })
export const VoteResponseV0 = record('VoteResponseV0', { errorCode: int, term: int, granted: boolean })

export const AppendEntriesRequestV0 = record('AppendEntriesRequestV0', {
  term: int,
  leaderId: int,
  prevLogIndex: long,
  prevLogTerm: int,
  leaderCommit: long,
  entries: array(record('RaftEntry', { term: int, data: bytes })),
})
export const AppendEntriesResponseV0 = record('AppendEntriesResponseV0', { errorCode: int, term: int, success: boolean, matchIndex: long })

/** `data` is the snapshot's content (encoded metadata records); its entry at `lastIndex` has `lastTerm`. */
export const InstallSnapshotRequestV0 = record('InstallSnapshotRequestV0', { term: int, leaderId: int, lastIndex: long, lastTerm: int, data: bytes })
/** As AppendEntries: on success `matchIndex` is the last index the voter now holds from the leader. */
export const InstallSnapshotResponseV0 = record('InstallSnapshotResponseV0', { errorCode: int, term: int, success: boolean, matchIndex: long })

export const DescribeQuorumRequestV0 = record('DescribeQuorumRequestV0', {})
export const DescribeQuorumResponseV0 = record('DescribeQuorumResponseV0', {
  errorCode: int,
  nodeId: int,
  /** 'leader', 'candidate', 'precandidate' (asking for pre-votes) or 'follower': this node's own view. */
  role: string,
  term: int,
  /** -1 while no leader is known. */
  leaderId: int,
  commitIndex: long,
  lastIndex: long,
  voters: array(record('QuorumVoter', { nodeId: int, host: string, port: int })),
})

export type PreVoteRequest = Value<typeof PreVoteRequestV0>
export type PreVoteResponse = Value<typeof PreVoteResponseV0>
export type VoteRequest = Value<typeof VoteRequestV0>
export type VoteResponse = Value<typeof VoteResponseV0>
export type AppendEntriesRequest = Value<typeof AppendEntriesRequestV0>
export type AppendEntriesResponse = Value<typeof AppendEntriesResponseV0>
export type InstallSnapshotRequest = Value<typeof InstallSnapshotRequestV0>
export type InstallSnapshotResponse = Value<typeof InstallSnapshotResponseV0>
export type DescribeQuorumRequest = Value<typeof DescribeQuorumRequestV0>
export type DescribeQuorumResponse = Value<typeof DescribeQuorumResponseV0>

export const preVoteVersions = { 0: { request: PreVoteRequestV0, response: PreVoteResponseV0 } } as const
export const voteVersions = { 0: { request: VoteRequestV0, response: VoteResponseV0 } } as const
export const appendEntriesVersions = { 0: { request: AppendEntriesRequestV0, response: AppendEntriesResponseV0 } } as const
export const installSnapshotVersions = { 0: { request: InstallSnapshotRequestV0, response: InstallSnapshotResponseV0 } } as const
export const describeQuorumVersions = { 0: { request: DescribeQuorumRequestV0, response: DescribeQuorumResponseV0 } } as const
