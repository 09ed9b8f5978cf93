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
import { launchBroker } from '../broker/local/launcher.js'
import { loopbackBaseline } from './lib/baseline.js'
import { consumeAll } from './lib/consume.js'
import { acksListFlag, commandLine, compressionFlag, intFlag, usageError } from './lib/flags.js'
import { produceAll } from './lib/produce.js'
import { mbPerSec, perSec, progress, progressDone, publish, type Row } from './lib/report.js'
import { endOffsets } from './lib/topics.js'

const USAGE = 'usage: npm run bench:single -- [--records 1000000] [--record-bytes 100] [--partitions 6] [--acks 1] [--compression none] [--batch-bytes 65536] [--linger-ms 5] [--json]'

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

const records = intFlag(USAGE, 'records', values.records, 1)
const recordBytes = intFlag(USAGE, 'record-bytes', values['record-bytes'], 1)
const partitions = intFlag(USAGE, 'partitions', values.partitions, 1)
const batchBytes = intFlag(USAGE, 'batch-bytes', values['batch-bytes'], 1)
const lingerMs = intFlag(USAGE, 'linger-ms', values['linger-ms'], 0)
const acksList = acksListFlag(USAGE, values.acks)
if (acksList.length !== 1) usageError(USAGE, `--acks takes one level here, got "${values.acks}"`)
const acks = acksList[0] as (typeof acksList)[number]
const compression = compressionFlag(USAGE, values.compression)

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'strand-bench-'))
  const broker = await launchBroker({ overrides: { 'data.dir': dataDir, 'listener.port': 0, 'log.level': 'warn' } })
  const strand = new Strand({ brokers: [broker.address], clientId: 'bench-single' })
  try {
    const topic = 'bench-single'
    const admin = strand.admin()
    await admin.createTopic({ topic, partitions, replicationFactor: 1 })
    const produced = await produceAll(strand, { topic, records, recordBytes, producers: 1, producer: { acks, lingerMs, batchBytes, compression }, label: 'produce' })
    const consumed = await consumeAll(strand, { topic, endOffsets: await endOffsets(admin, topic, partitions), consumers: 1, label: 'consume' })
    progress('baseline: raw loopback')
    const baseline = await loopbackBaseline(records * recordBytes, batchBytes)
    progressDone()
    const baselineMBs = mbPerSec(baseline.bytes, baseline.ms)
    const row = (name: string, t: { records: number; bytes: number; ms: number }): Row => ({ name, figures: { 'records/s': perSec(t.records, t.ms), 'MB/s': mbPerSec(t.bytes, t.ms), 'x baseline': mbPerSec(t.bytes, t.ms) / baselineMBs } })
    const rows: Row[] = [
      row(`produce acks=${acks}`, produced),
      row('consume', consumed),
      { name: 'baseline: raw node:net loopback', figures: { 'MB/s': baselineMBs, 'x baseline': 1 } },
    ]
    publish(
      {
        workload: 'single',
        command: commandLine('bench/single.ts'),
        params: { records, recordBytes, partitions, acks, compression, batchBytes, lingerMs },
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
