// Baselines measured in the same run as the figures they are compared with: what plain Node can
// do on this machine, right now, with the same bytes. A ratio against them stays meaningful on a
// shared, noisy machine where absolute figures do not.

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { open } from 'node:fs/promises'
import net from 'node:net'
import { once } from 'node:events'
import os from 'node:os'
import path from 'node:path'

/** Bytes a reader of a log or a raw file asks for at a time: a typical fetch.max.bytes per partition. */
export const READ_CHUNK_BYTES = 1024 * 1024

/**
 * A sink in its own process (as a broker would be) that reads `totalBytes` from one connection
 * and answers one byte when it has them all.
 */
const SINK_SCRIPT = `
const net = require('node:net')
const total = Number(process.argv[1])
const server = net.createServer((s) => {
  let got = 0
  s.on('data', (c) => { got += c.length; if (got >= total) { s.write('k'); s.end(); server.close() } })
})
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'))
`

export interface BaselineResult {
  bytes: number
  ms: number
}

/** Raw `node:net` loopback: one client writing `chunkBytes` chunks as fast as backpressure allows. */
export async function loopbackBaseline(totalBytes: number, chunkBytes: number): Promise<BaselineResult> {
  const child = spawn(process.execPath, ['-e', SINK_SCRIPT, String(totalBytes)], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const [line] = (await once(child.stdout, 'data')) as [Buffer]
    const port = Number(line.toString().trim())
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    const chunk = Buffer.alloc(chunkBytes, 0x61)
    const start = performance.now()
    const acked = once(socket, 'data')
    let sent = 0
    while (sent < totalBytes) {
      const n = Math.min(chunkBytes, totalBytes - sent)
      const ok = socket.write(n === chunkBytes ? chunk : chunk.subarray(0, n))
      sent += n
      if (!ok) await once(socket, 'drain')
    }
    await acked
    const ms = performance.now() - start
    socket.destroy()
    return { bytes: totalBytes, ms }
  } finally {
    child.kill('SIGKILL')
  }
}

/** A plain file written with positional appends and read back READ_CHUNK_BYTES at a time. */
export interface RawFile {
  append(chunk: Buffer): Promise<void>
  /** Reads the next chunk after the last one read; returns its bytes (0 at the end). */
  readNext(): Promise<number>
  close(): Promise<void>
}

/** What a log's append path would do with no log around it: positional `fs` writes, no fsync. */
export async function openRawFile(file: string): Promise<RawFile> {
  const fh = await open(file, 'w+')
  let writePos = 0
  let readPos = 0
  return {
    append: async (chunk) => {
      await fh.write(chunk, 0, chunk.length, writePos)
      writePos += chunk.length
    },
    readNext: async () => {
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, writePos - readPos))
      const { bytesRead } = await fh.read(buf, 0, buf.length, readPos)
      readPos += bytesRead
      return bytesRead
    },
    close: () => fh.close(),
  }
}

/**
 * Raw file append: `totalBytes` written as `chunkBytes` appends to a file in a temp dir (removed
 * afterwards), without fsync, as a broker's log leaves flushing to the OS by default.
 */
export async function fileAppendBaseline(totalBytes: number, chunkBytes: number): Promise<BaselineResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'strand-bench-file-'))
  try {
    const file = await openRawFile(path.join(dir, 'raw.bin'))
    const chunk = Buffer.alloc(chunkBytes, 0x61)
    const start = performance.now()
    for (let written = 0; written < totalBytes; ) {
      const n = Math.min(chunkBytes, totalBytes - written)
      await file.append(n === chunkBytes ? chunk : chunk.subarray(0, n))
      written += n
    }
    const ms = performance.now() - start
    await file.close()
    return { bytes: totalBytes, ms }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export interface FsyncBaselineResult {
  /** write + fdatasync pairs done, one after another. */
  fsyncs: number
  bytes: number
  ms: number
}

/**
 * The disk's fsync rate: `chunkBytes` appends to one file in a temp dir (removed afterwards), each
 * followed by an fdatasync before the next, for `durationMs`. The ceiling of a log that fsyncs
 * every append alone, and what one round of a group commit costs.
 */
export async function fsyncBaseline(durationMs: number, chunkBytes: number): Promise<FsyncBaselineResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'strand-bench-fsync-'))
  try {
    const fh = await open(path.join(dir, 'raw.bin'), 'w')
    const chunk = Buffer.alloc(chunkBytes, 0x61)
    let fsyncs = 0
    const start = performance.now()
    let ms = 0
    while (ms < durationMs) {
      await fh.write(chunk, 0, chunk.length, fsyncs * chunkBytes)
      await fh.datasync()
      fsyncs++
      ms = performance.now() - start
    }
    await fh.close()
    return { fsyncs, bytes: fsyncs * chunkBytes, ms }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
