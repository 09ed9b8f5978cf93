// The broker process: parse the command line and config, start the broker, stop cleanly on
// SIGTERM / SIGINT. Everything else lives in `startBroker`, which users can embed in their tests.
//
//   npx tsx broker/main.ts --config config/broker-1.json [--override key=value ...]

import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { ConfigError } from './config-def.js'
import { BROKER_CONFIG_DEFS, loadBrokerConfig } from './config.js'
import { startBroker } from './broker.js'
import { unknownFailpoints } from './failpoints.js'

const USAGE = `Usage: tsx broker/main.ts [--config <file.json>] [--override key=value ...]

Starts one Strand broker. Without --config, every key takes its default.
Options:
  -c, --config <file>      JSON file of "key": value pairs (see config/broker-1.json)
  -o, --override <k=v>     set one key, after the file; may repeat
  -h, --help               this text

Config keys:
${Object.values(BROKER_CONFIG_DEFS)
  .map((d) => `  ${d.key.padEnd(38)} ${String(d.default).padEnd(12)} ${d.doc}`)
  .join('\n')}
`

function fail(message: string): never {
  process.stderr.write(`strand broker: ${message}\n`)
  process.exit(1)
}

async function main(): Promise<void> {
  let args
  try {
    args = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        override: { type: 'string', short: 'o', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    })
  } catch (err) {
    fail(`${(err as Error).message}\n\n${USAGE}`)
  }
  if (args.values.help === true) {
    process.stdout.write(USAGE)
    return
  }
  let config
  try {
    config = loadBrokerConfig(args.values.config, args.values.override ?? [])
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message)
    throw err
  }
  const unknown = unknownFailpoints()
  if (unknown.length > 0) fail(`STRAND_FAILPOINTS names no failpoint ${unknown.join(', ')}.`)
  const logger = pino({ level: config.logLevel, base: { nodeId: config.nodeId } })
  let broker
  try {
    broker = await startBroker({ config, logger })
  } catch (err) {
    logger.fatal({ err }, 'broker failed to start')
    fail(`failed to start: ${(err as Error).message}`)
  }
  // A parent that spawned us with an IPC channel (the launcher) learns the bound address this way,
  // whatever log.level hides; the channel must not keep the broker alive on its own.
  if (process.send !== undefined) {
    process.send({ type: 'listening', host: broker.host, port: broker.port, kafkaPort: broker.kafkaPort })
    process.channel?.unref()
  }
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'stopping')
    broker.close().then(
      () => {
        logger.info('stopped cleanly')
        logger.flush()
        process.exit(0)
      },
      (err: unknown) => {
        logger.fatal({ err }, 'unclean stop')
        logger.flush()
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

await main()
