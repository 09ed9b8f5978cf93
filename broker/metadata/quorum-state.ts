// The quorum's durable vote: `<dataDir>/__cluster_metadata-0/quorum-state`, JSON
//   { "version": 0, "term": 7, "votedFor": 2 }      (votedFor null: no vote in this term)
// replaced whole (temp file, fsync, rename) before any vote or term change is acted on. A missing
// file is a fresh voter (term 0); a damaged one is a startup error, never a silent reset: voting
// again in a term this node already voted in could elect two leaders.

import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { writeFileAtomic } from '../log/checkpoint.js'
import type { HardState } from './raft.js'

export const QUORUM_STATE_FILE = 'quorum-state'
const VERSION = 0

export class QuorumStateError extends Error {
  override readonly name = 'QuorumStateError'
}

export async function readQuorumState(dir: string): Promise<HardState> {
  const file = path.join(dir, QUORUM_STATE_FILE)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { term: 0, votedFor: null }
    throw err
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new QuorumStateError(`${file} is not valid JSON; refusing to start rather than forget this voter's term and vote. Restore it or remove the node's metadata directory to rejoin as a new voter.`)
  }
  const s = parsed as { version?: unknown; term?: unknown; votedFor?: unknown }
  const termOk = Number.isSafeInteger(s.term) && (s.term as number) >= 0
  const voteOk = s.votedFor === null || (Number.isSafeInteger(s.votedFor) && (s.votedFor as number) >= 0)
  if (s.version !== VERSION || !termOk || !voteOk) {
    throw new QuorumStateError(`${file} holds ${JSON.stringify(parsed)}, not {"version":0,"term":<int>,"votedFor":<int|null>}; refusing to start.`)
  }
  return { term: s.term as number, votedFor: s.votedFor as number | null }
}

export async function writeQuorumState(dir: string, state: HardState): Promise<void> {
  await writeFileAtomic(path.join(dir, QUORUM_STATE_FILE), `${JSON.stringify({ version: VERSION, term: state.term, votedFor: state.votedFor })}\n`)
}
