// Snapshots of the metadata image: `<dataDir>/__cluster_metadata-0/<lastIndex>-<lastTerm>.snapshot`,
// lastIndex as 20 digits so names sort by index. Each file is written whole (temp file, fsync,
// rename, fsync of the directory) and never changed after:
//
//   magic "SSNP" 4 | version uint16 | lastIndex int64 | lastTerm int32 | length uint32 | crc32 uint32 | data
//
// All integers big-endian. `data` is the image as one metadata entry (records.ts'
// encodeMetadataEntry of MetadataImage.toRecords); the CRC (zlib.crc32) covers the header before
// it and the data. The snapshot holds the committed state through `lastIndex`, whose Raft entry
// has `lastTerm`: the metadata log then only needs the entries after it.
//
// Only the QuorumNode calls this module, from its persistence chain (one operation at a time).

import { readdir, readFile, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { crc32 } from 'node:zlib'
import { fsyncDir, writeFileAtomic } from '../log/checkpoint.js'

const MAGIC = Buffer.from('SSNP', 'latin1')
const VERSION = 0
/** magic 4 + version 2 + lastIndex 8 + lastTerm 4 + length 4 + crc 4. */
export const SNAPSHOT_HEADER_BYTES = 26
const CRC_OFFSET = 22
/** Two, so a damaged newest snapshot can fall back to the one before while the log still covers it. */
export const SNAPSHOTS_KEPT = 2
const NAME = /^(\d{20})-(\d+)\.snapshot$/

export interface Snapshot {
  lastIndex: number
  lastTerm: number
  data: Buffer
}

export interface SnapshotRef {
  lastIndex: number
  lastTerm: number
  file: string
}

export class SnapshotError extends Error {
  override readonly name = 'SnapshotError'
}

export function snapshotFileName(lastIndex: number, lastTerm: number): string {
  return `${String(lastIndex).padStart(20, '0')}-${lastTerm}.snapshot`
}

export function encodeSnapshot(s: Snapshot): Buffer {
  const out = Buffer.allocUnsafe(SNAPSHOT_HEADER_BYTES + s.data.length)
  MAGIC.copy(out, 0)
  out.writeUInt16BE(VERSION, 4)
  out.writeBigInt64BE(BigInt(s.lastIndex), 6)
  out.writeInt32BE(s.lastTerm, 14)
  out.writeUInt32BE(s.data.length, 18)
  s.data.copy(out, SNAPSHOT_HEADER_BYTES)
  out.writeUInt32BE(crcOf(out), CRC_OFFSET)
  return out
}

function crcOf(buf: Buffer): number {
  return crc32(buf.subarray(SNAPSHOT_HEADER_BYTES), crc32(buf.subarray(0, CRC_OFFSET)))
}

/** Decodes a whole snapshot file; `what` names it in errors. Throws SnapshotError on any damage. */
export function decodeSnapshot(buf: Buffer, what: string): Snapshot {
  if (buf.length < SNAPSHOT_HEADER_BYTES) throw new SnapshotError(`${what} is ${buf.length} bytes, shorter than its ${SNAPSHOT_HEADER_BYTES}-byte header.`)
  if (!buf.subarray(0, 4).equals(MAGIC)) throw new SnapshotError(`${what} does not start with the snapshot magic.`)
  const version = buf.readUInt16BE(4)
  if (version !== VERSION) throw new SnapshotError(`${what} has unsupported version ${version}.`)
  const length = buf.readUInt32BE(18)
  if (buf.length !== SNAPSHOT_HEADER_BYTES + length) throw new SnapshotError(`${what} claims ${length} bytes of data but holds ${buf.length - SNAPSHOT_HEADER_BYTES}.`)
  if (buf.readUInt32BE(CRC_OFFSET) !== crcOf(buf)) throw new SnapshotError(`${what} fails its CRC check.`)
  const lastIndex = Number(buf.readBigInt64BE(6))
  const lastTerm = buf.readInt32BE(14)
  if (!Number.isSafeInteger(lastIndex) || lastIndex < 1 || lastTerm < 1) throw new SnapshotError(`${what} holds lastIndex ${lastIndex}, lastTerm ${lastTerm}.`)
  return { lastIndex, lastTerm, data: buf.subarray(SNAPSHOT_HEADER_BYTES) }
}

/** Writes the snapshot atomically; returns its file. */
export async function writeSnapshot(dir: string, s: Snapshot): Promise<string> {
  const file = path.join(dir, snapshotFileName(s.lastIndex, s.lastTerm))
  await writeFileAtomic(file, encodeSnapshot(s))
  return file
}

/** The snapshot files in `dir`, newest (highest lastIndex) first. Temp files of interrupted writes are not listed. */
export async function listSnapshots(dir: string): Promise<SnapshotRef[]> {
  const refs: SnapshotRef[] = []
  for (const name of await readdir(dir)) {
    const m = NAME.exec(name)
    if (m === null) continue
    refs.push({ lastIndex: Number(m[1]), lastTerm: Number(m[2]), file: path.join(dir, name) })
  }
  return refs.sort((a, b) => b.lastIndex - a.lastIndex || b.lastTerm - a.lastTerm)
}

/** Reads and checks one snapshot; its header must agree with its name. */
export async function readSnapshot(ref: SnapshotRef): Promise<Snapshot> {
  const s = decodeSnapshot(await readFile(ref.file), ref.file)
  if (s.lastIndex !== ref.lastIndex || s.lastTerm !== ref.lastTerm) {
    throw new SnapshotError(`${ref.file} holds lastIndex ${s.lastIndex}, lastTerm ${s.lastTerm}, not what its name says.`)
  }
  return s
}

/** Entries the metadata log holds: [firstIndex, lastIndex], empty when firstIndex > lastIndex. */
export interface LogRange {
  firstIndex: number
  lastIndex: number
}

/**
 * The newest snapshot that reads back intact, or null when there is none.
 *
 * A damaged snapshot is passed over for an older one only when the log still holds every entry
 * from just after the older one through the damaged one's last index: then replaying the log
 * rebuilds exactly the state the damaged file held. Otherwise this is a startup error, never a
 * silent step back: the log prefix behind the damaged snapshot is gone, and a voter that forgets
 * committed state it acknowledged could let a committed entry be lost.
 *
 * Damaged files passed over are renamed to `<name>.damaged`: kept for inspection, but no longer
 * counted among the kept snapshots, so pruning never deletes a good one in favour of them.
 */
export async function loadNewestSnapshot(dir: string, log: LogRange): Promise<{ snapshot: Snapshot | null; skipped: Array<{ file: string; reason: string }> }> {
  const skipped: Array<{ file: string; reason: string }> = []
  let mustReach = 0
  for (const ref of await listSnapshots(dir)) {
    let snapshot: Snapshot
    try {
      snapshot = await readSnapshot(ref)
    } catch (err) {
      if (!(err instanceof SnapshotError)) throw err
      skipped.push({ file: ref.file, reason: err.message })
      mustReach = Math.max(mustReach, ref.lastIndex)
      continue
    }
    if (skipped.length > 0) {
      assertLogCovers(log, snapshot.lastIndex, mustReach, skipped)
      await setAside(dir, skipped)
    }
    return { snapshot, skipped }
  }
  if (skipped.length > 0) {
    assertLogCovers(log, 0, mustReach, skipped)
    await setAside(dir, skipped)
  }
  return { snapshot: null, skipped }
}

async function setAside(dir: string, skipped: ReadonlyArray<{ file: string }>): Promise<void> {
  for (const s of skipped) await rename(s.file, `${s.file}.damaged`)
  await fsyncDir(dir)
}

function assertLogCovers(log: LogRange, from: number, through: number, skipped: ReadonlyArray<{ file: string; reason: string }>): void {
  if (log.firstIndex <= from + 1 && log.lastIndex >= through) return
  const held = log.firstIndex > log.lastIndex ? 'no entries' : `entries ${log.firstIndex}..${log.lastIndex}`
  const older = from === 0 ? 'an empty state' : `the snapshot at ${from}`
  throw new SnapshotError(
    `${skipped.map((s) => s.reason).join(' ')} The metadata log holds ${held}, not every entry from ${older} through ${through}, so this voter cannot rebuild its state; ` +
      'refusing to start rather than forget committed metadata. Restore the snapshot file, or remove this node\'s metadata directory to rejoin as a new voter.',
  )
}

/** Removes all but the `SNAPSHOTS_KEPT` newest snapshot files; returns the refs kept, newest first. */
export async function pruneSnapshots(dir: string): Promise<SnapshotRef[]> {
  const refs = await listSnapshots(dir)
  for (const old of refs.slice(SNAPSHOTS_KEPT)) await rm(old.file, { force: true })
  return refs.slice(0, SNAPSHOTS_KEPT)
}
