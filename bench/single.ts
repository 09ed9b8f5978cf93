// Single-broker throughput: one broker process, one producer, 100-byte records over 6
// partitions with acks=1, then one consumer reading them all back. Baseline in the same run: a
// raw node:net loopback pipe carrying the same number of bytes to another process.
//
//   npm run bench:single [-- --records 1000000 --record-bytes 100 --partitions 6 --acks 1 --json]

import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { Strand } from '../client/index.js'
import { launchBroker } from '../broker/launcher.js'
import { loopbackBaseline } from './lib/baseline.js'
import { mbPerSec, perSec, progress, progressDone, publish, type Row } from './lib/report.js'

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    'record-bytes': { type: 'string', default: '100' },
    partitions: { type: 'string', default: '6' },
    acks: { type: 'string', default: '1' },
    compression: { type: 'string', default: 'none' },
    'batch-bytes': { type: 'string', default: '65536' },
    'linger-ms': { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
  },
  strict: true,
})

function positiveInt(name: string, raw: string): number {
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n <= 0) {
    process.stderr.write(`bench: --${name} must be a positive integer, got "${raw}"\n`)
    process.exit(1)
  }
  return n
}

const records = positiveInt('records', values.records)
const recordBytes = positiveInt('record-bytes', values['record-bytes'])
const partitions = positiveInt('partitions', values.partitions)
const batchBytes = positiveInt('batch-bytes', values['batch-bytes'])
const lingerMs = Number(values['linger-ms'])
const acksRaw = values.acks
if (!['0', '1', 'all', '-1'].includes(acksRaw)) {
  process.stderr.write(`bench: --acks must be 0, 1 or all, got "${acksRaw}"\n`)
  process.exit(1)
}
const acks = acksRaw === 'all' || acksRaw === '-1' ? 'all' : (Number(acksRaw) as 0 | 1)
const compression = values.compression as 'none' | 'gzip' | 'deflate' | 'brotli'
/** Messages handed to one send() call: big enough to keep the accumulator full. */
const SEND_CHUNK_RECORDS = 1000
/** Sends in flight at once: bounded so the producer's buffer, not the heap, absorbs bursts. */
const SENDS_INFLIGHT_MAX = 64

async function produceAll(strand: Strand, topic: string): Promise<number> {
  const producer = strand.producer({ acks, lingerMs, batchBytes, compression })
  const value = Buffer.alloc(recordBytes, 0x61)
  const messages = Array.from({ length: SEND_CHUNK_RECORDS }, () => ({ value }))
  const inflight = new Set<Promise<unknown>>()
  const start = performance.now()
  let sent = 0
  while (sent < records) {
    const n = Math.min(SEND_CHUNK_RECORDS, records - sent)
    const p: Promise<unknown> = producer.send({ topic, messages: n === SEND_CHUNK_RECORDS ? messages : messages.slice(0, n) })
    inflight.add(p)
    void p.finally(() => inflight.delete(p))
    sent += n
    if (inflight.size >= SENDS_INFLIGHT_MAX) await Promise.race(inflight)
    if (sent % 100_000 === 0) progress(`produce: ${sent.toLocaleString()} / ${records.toLocaleString()}`)
  }
  await Promise.all(inflight)
  await producer.flush()
  const ms = performance.now() - start
  await producer.close()
  return ms
}

async function consumeAll(strand: Strand, topic: string): Promise<number> {
  const consumer = strand.consumer({})
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 'earliest' as const })))
  const start = performance.now()
  let seen = 0
  for await (const batch of consumer) {
    seen += batch.messages.length
    if (seen % 100_000 < batch.messages.length) progress(`consume: ${seen.toLocaleString()} / ${records.toLocaleString()}`)
    if (seen >= records) break
  }
  const ms = performance.now() - start
  await consumer.close()
  return ms
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'strand-bench-'))
  const broker = await launchBroker({ overrides: { 'data.dir': dataDir, 'listener.port': 0, 'log.level': 'warn' } })
  const strand = new Strand({ brokers: [broker.address], clientId: 'bench-single' })
  try {
    const topic = 'bench-single'
    await strand.admin().createTopic({ topic, partitions, replicationFactor: 1 })
    const produceMs = await produceAll(strand, topic)
    const consumeMs = await consumeAll(strand, topic)
    progressDone()
    const payloadBytes = records * recordBytes
    progress('baseline: raw loopback')
    const baseline = await loopbackBaseline(payloadBytes, batchBytes)
    progressDone()
    const baselineMBs = mbPerSec(baseline.bytes, baseline.ms)
    const rows: Row[] = [
      { name: `produce acks=${acksRaw}`, figures: { 'records/s': perSec(records, produceMs), 'MB/s': mbPerSec(payloadBytes, produceMs), 'x baseline': mbPerSec(payloadBytes, produceMs) / baselineMBs } },
      { name: 'consume', figures: { 'records/s': perSec(records, consumeMs), 'MB/s': mbPerSec(payloadBytes, consumeMs), 'x baseline': mbPerSec(payloadBytes, consumeMs) / baselineMBs } },
      { name: 'baseline: raw node:net loopback', figures: { 'MB/s': baselineMBs, 'x baseline': 1 } },
    ]
    publish(
      {
        workload: 'single',
        command: `npm run bench:single -- ${process.argv.slice(2).join(' ')}`.trim(),
        params: { records, recordBytes, partitions, acks: acksRaw, compression, batchBytes, lingerMs },
        rows,
      },
      { json: values.json },
    )
  } finally {
    await strand.close()
    await broker.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

await main()
