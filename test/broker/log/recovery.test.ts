import { spawn } from 'node:child_process'
import { appendFile, readdir, readFile, stat, truncate, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t, { type Test } from 'tap'
import { decodeBatches } from '../../../client/protocol/records.js'
import { CLEAN_SHUTDOWN_FILE, LogManager } from '../../../broker/log/log-manager.js'
import { DEFAULT_LOG_CONFIG, type LogConfig } from '../../../broker/log/config.js'
import type { Log } from '../../../broker/log/log.js'
import { openLog, silentLogger, tempDir, testBatch, valueFor } from '../../helpers/log.js'
import { waitFor } from '../../helpers/wait.js'

const CONFIG: Partial<LogConfig> = { segmentBytes: 8192, indexIntervalBytes: 512 }
const PAD = 40

/** Writes `batches` batches of 3 records, closes cleanly, and returns the partition directory. */
async function writeLog(t: Tap, batches: number): Promise<string> {
  const dir = path.join(await tempDir(t), 'topic-0')
  const { log } = await openLog(dir, { config: CONFIG })
  for (let i = 0; i < batches; i++) await log.append(testBatch(BigInt(i * 3), 3, { padBytes: PAD }), { assignOffsets: true })
  await log.close()
  return dir
}
type Tap = Test

async function segmentFiles(dir: string, suffix: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith(suffix)).sort().map((n) => path.join(dir, n))
}

/** Every record of the log, checked against the value the writer gave it. */
async function checkContent(t: Test, log: Log, expectedEnd: bigint): Promise<void> {
  let offset = log.logStartOffset
  let wrong = 0
  while (offset < log.logEndOffset) {
    const { records, nextOffset } = await log.read(offset, 64 * 1024)
    for (const b of decodeBatches(records).batches) for (const r of b.records) if (r.value?.toString() !== valueFor(r.offset, PAD)) wrong++
    if (nextOffset === offset) break // a stuck read fails the end check below instead of hanging
    offset = nextOffset
  }
  t.equal(wrong, 0, 'every record before the damage reads back identical')
  t.equal(log.logEndOffset, expectedEnd, `the log ends at ${expectedEnd}, the last valid batch`)
}

async function reopen(dir: string): Promise<{ log: Log; droppedBytes: number }> {
  return openLog(dir, { config: CONFIG, cleanShutdown: false, recoveryPoint: 0n })
}

t.test('a segment cut mid-batch is truncated to its last whole batch', async (t) => {
  const dir = await writeLog(t, 200)
  const last = (await segmentFiles(dir, '.log')).at(-1)!
  const size = (await stat(last)).size
  await truncate(last, size - 50)
  const { log, droppedBytes } = await reopen(dir)
  t.teardown(() => log.close())
  t.ok(droppedBytes > 0 && droppedBytes < size, `dropped ${droppedBytes} bytes`)
  await checkContent(t, log, 597n)
  const info = await log.append(testBatch(597n, 3, { padBytes: PAD }), { assignOffsets: true })
  t.equal(info.firstOffset, 597n, 'appends continue after the recovered end')
})

t.test('a flipped byte in the last batch drops that batch', async (t) => {
  const dir = await writeLog(t, 200)
  const last = (await segmentFiles(dir, '.log')).at(-1)!
  const bytes = await readFile(last)
  bytes[bytes.length - 10]! ^= 0x01
  await writeFile(last, bytes)
  const { log, droppedBytes } = await reopen(dir)
  t.teardown(() => log.close())
  t.ok(droppedBytes > 0)
  await checkContent(t, log, 597n)
})

t.test('zeros appended after the last batch are dropped', async (t) => {
  const dir = await writeLog(t, 200)
  const last = (await segmentFiles(dir, '.log')).at(-1)!
  await appendFile(last, Buffer.alloc(4096))
  const { log, droppedBytes } = await reopen(dir)
  t.teardown(() => log.close())
  t.equal(droppedBytes, 4096)
  await checkContent(t, log, 600n)
})

t.test('corruption in an older segment truncates there and deletes every later segment', async (t) => {
  const dir = await writeLog(t, 200)
  const logs = await segmentFiles(dir, '.log')
  t.ok(logs.length >= 4)
  const victim = logs[1]!
  const bytes = await readFile(victim)
  bytes[200]! ^= 0xff
  await writeFile(victim, bytes)
  const { log } = await reopen(dir)
  t.teardown(() => log.close())
  t.equal(log.segmentCount, 2, 'segments after the damaged one are gone')
  t.ok(log.logEndOffset < 600n && log.logEndOffset > 0n)
  await checkContent(t, log, log.logEndOffset)
  t.equal((await segmentFiles(dir, '.log')).length, 2)
})

t.test('a deleted or damaged index is rebuilt, even after a clean shutdown', async (t) => {
  const dir = await writeLog(t, 200)
  const indexes = await segmentFiles(dir, '.index')
  await unlink(indexes[0]!)
  await writeFile(indexes[1]!, Buffer.from('not an index at all'))
  const timeIndexes = await segmentFiles(dir, '.timeindex')
  await writeFile(timeIndexes[2]!, Buffer.alloc(24, 0xff))
  const { log, droppedBytes } = await openLog(dir, { config: CONFIG, cleanShutdown: true })
  t.equal(droppedBytes, 0)
  await checkContent(t, log, 600n)
  for (let o = 0n; o < 600n; o += 37n) {
    const [batch] = decodeBatches((await log.read(o, 1)).records).batches
    t.ok(batch!.header.baseOffset <= o && o < batch!.header.baseOffset + 3n, `offset ${o} found through the rebuilt index`)
  }
  t.ok((await log.offsetForTimestamp(0))?.offset === 0n, 'time lookup works through the rebuilt time index')
  await log.close()
  t.equal((await stat(indexes[0]!)).size > 0, true, 'the rebuilt index is written on close')
})

t.test('a cleanly closed log opens without validating its segments', async (t) => {
  const dataDir = await tempDir(t)
  const config: LogConfig = { ...DEFAULT_LOG_CONFIG, ...CONFIG }
  const first = await LogManager.open(dataDir, { clock: Date.now, logger: silentLogger })
  const log = await first.getOrCreate('topic', 0, config)
  for (let i = 0; i < 200; i++) await log.append(testBatch(BigInt(i * 3), 3, { padBytes: PAD }), { assignOffsets: true })
  await first.close()
  t.ok((await readdir(dataDir)).includes(CLEAN_SHUTDOWN_FILE), 'close leaves the clean-shutdown marker')
  // Damage a record inside the first batch: a clean open does not read it, so it does not notice
  // (that is what "without scanning" means), and the marker is consumed by the open.
  const victim = (await segmentFiles(path.join(dataDir, 'topic-0'), '.log'))[0]!
  const bytes = await readFile(victim)
  bytes[bytes.readInt32BE(8) + 12 - 5]! ^= 0xff
  await writeFile(victim, bytes)
  const second = await LogManager.open(dataDir, { clock: Date.now, logger: silentLogger })
  t.teardown(() => second.close())
  t.equal(second.cleanShutdown, true)
  t.notOk((await readdir(dataDir)).includes(CLEAN_SHUTDOWN_FILE), 'the marker is removed while running')
  const reopened = await second.getOrCreate('topic', 0, config)
  t.equal(reopened.logEndOffset, 600n, 'nothing was truncated')
  const { records } = await reopened.read(0n, 1 << 20)
  t.throws(() => decodeBatches(records), { code: 'CORRUPT_MESSAGE' }, 'the rot is caught by the reader\'s CRC check')
})

t.test('a writer killed with SIGKILL mid-append loses nothing it acknowledged', async (t) => {
  const dataDir = await tempDir(t)
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, '../../helpers/log-writer.ts'), dataDir, String(PAD)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let acked = -1n
  let buffered = ''
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop()!
    for (const line of lines) if (line.startsWith('acked ')) acked = BigInt(line.slice(6))
  })
  await waitFor(() => acked > 3000n, { what: 'the writer to append 3000 records', timeoutMs: 60_000 })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
  const lastAcked = acked
  const manager = await LogManager.open(dataDir, { clock: Date.now, logger: silentLogger })
  t.teardown(() => manager.close())
  t.equal(manager.cleanShutdown, false, 'the killed writer left no clean-shutdown marker')
  const log = await manager.getOrCreate('killed', 0, { ...DEFAULT_LOG_CONFIG, segmentBytes: 256 * 1024, indexIntervalBytes: 1024 })
  t.ok(log.logEndOffset > lastAcked, `every acknowledged offset (up to ${lastAcked}) survived; the log ends at ${log.logEndOffset}`)
  await checkContent(t, log, log.logEndOffset)
})
