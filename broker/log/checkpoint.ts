// Crash-consistent small files: the recovery-point checkpoint, topics.json, meta.json.
//
// A checkpoint is replaced whole: write a temp file next to it, fsync it, rename it over the old
// one, then fsync the directory so the rename itself survives a power cut. A reader therefore sees
// either the old file or the new one, never a torn mix.
//
// Recovery-point file format (text, one entry per line, like Kafka's OffsetCheckpointFile):
//   line 1: version (0)
//   line 2: entry count N
//   N lines: <topic> <partition> <offset>

import { open, readFile, rename, stat, unlink } from 'node:fs/promises'
import path from 'node:path'

export const CHECKPOINT_VERSION = 0

export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const tmp = `${file}.tmp`
  const fh = await open(tmp, 'w')
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, file)
  await fsyncDir(path.dirname(file))
}

/** Makes a directory's entries (creations, renames, deletions) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** Whether `file` exists; errors other than "not found" are thrown. */
export async function fileExists(file: string): Promise<boolean> {
  try {
    await stat(file)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

export async function removeIfExists(file: string): Promise<boolean> {
  try {
    await unlink(file)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

export type OffsetCheckpoint = Map<string, bigint>

export function checkpointKey(topic: string, partition: number): string {
  return `${topic} ${partition}`
}

export async function writeOffsetCheckpoint(file: string, offsets: OffsetCheckpoint): Promise<void> {
  const lines = [String(CHECKPOINT_VERSION), String(offsets.size)]
  for (const [key, offset] of offsets) lines.push(`${key} ${offset}`)
  await writeFileAtomic(file, `${lines.join('\n')}\n`)
}

/**
 * Reads an offset checkpoint. A missing file is an empty map; a malformed one is also treated as
 * empty (and reported through `onDamaged`), because every offset in it is only an optimisation:
 * without it, recovery scans more, but loses nothing.
 */
export async function readOffsetCheckpoint(file: string, onDamaged: (why: string) => void): Promise<OffsetCheckpoint> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map()
    throw err
  }
  const lines = text.split('\n').filter((l) => l.length > 0)
  const offsets: OffsetCheckpoint = new Map()
  if (lines[0] !== String(CHECKPOINT_VERSION) || Number(lines[1]) !== lines.length - 2) {
    onDamaged(`unexpected header in ${file}`)
    return new Map()
  }
  for (const line of lines.slice(2)) {
    const m = /^(\S+) (\d+) (\d+)$/.exec(line)
    if (m === null) {
      onDamaged(`malformed line "${line}" in ${file}`)
      return new Map()
    }
    offsets.set(checkpointKey(m[1]!, Number(m[2])), BigInt(m[3]!))
  }
  return offsets
}
