// A child process that appends to a real log until it is killed: the subject of the SIGKILL
// recovery test. Usage: tsx test/helpers/log-writer.ts <dataDir> <padBytes>
// Prints "acked <lastOffset>" after each append resolves, so the parent knows what was accepted.

import { LogManager } from '../../broker/log/log-manager.js'
import { DEFAULT_LOG_CONFIG } from '../../broker/log/config.js'
import { silentLogger, testBatch } from './log.js'

const [dataDir, padArg] = process.argv.slice(2)
if (dataDir === undefined) {
  process.stderr.write('usage: log-writer <dataDir> <padBytes>\n')
  process.exit(1)
}
const padBytes = Number(padArg ?? '100')
const manager = await LogManager.open(dataDir, { clock: Date.now, logger: silentLogger })
const log = await manager.getOrCreate('killed', 0, { ...DEFAULT_LOG_CONFIG, segmentBytes: 256 * 1024, indexIntervalBytes: 1024 })
let next = log.logEndOffset
for (;;) {
  const count = 1 + Number(next % 7n)
  const info = await log.append(testBatch(next, count, { padBytes }), { assignOffsets: true })
  next = info.lastOffset + 1n
  process.stdout.write(`acked ${info.lastOffset}\n`)
}
