// `npm start`: the local three-broker cluster. Starts the brokers of config/broker-1.json ..
// broker-3.json as child processes (each broker's log goes to <data dir>/broker-N.log), waits
// until the quorum has a controller and every broker is registered, prints the bootstrap address,
// then prints the cluster's status (broker/local/local-cluster-status.ts: controller, brokers with their
// metrics endpoints, topics, under-replicated and offline partitions) whenever it changes. Ctrl-C
// stops every broker cleanly.
//
//   npm start                                   config/ and ./data
//   npm start -- --config-dir my-configs --data-dir /tmp/strand --restart-on-crash
//   npm start -- --secure                       TLS + SCRAM + ACLs (local-cluster-secure.ts)

import { createWriteStream, existsSync, mkdirSync, readdirSync, type WriteStream } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Connection } from '../../client/net/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { loadBrokerConfig } from '../config.js'
import { ConfigError } from '../config-def.js'
import { launchBroker, type LaunchedBroker } from './launcher.js'
import { statusScreen, type ClusterView } from './local-cluster-status.js'
import { ADMIN_USER, ensureAdmin, prepareLocalSecurity, type LocalSecurity } from './local-cluster-secure.js'
import type { SecurityOptions } from '../../client/net/security.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
/** The cluster must be ready by then, or the start is reported as failed. */
const READY_TIMEOUT_MS = 60_000
/** How often the status is polled; it is printed only when it changes. */
const STATUS_INTERVAL_MS = 1000

const USAGE = `Usage: npm start -- [--config-dir DIR] [--data-dir DIR] [--restart-on-crash] [--secure]

Starts one broker per broker-*.json in the config directory (default: config/), waits until they
form a cluster, and prints the bootstrap address. Ctrl-C stops them all.
  --config-dir DIR      broker-1.json, broker-2.json, ... (default: config/ of this repository)
  --data-dir DIR        put broker N's data in DIR/broker-N instead of each config's data.dir
  --restart-on-crash    start a broker again when it exits unexpectedly
  --secure              TLS + SASL/SCRAM + ACLs: makes a CA, the brokers' certificate and passwords
                        in <data dir>/security on the first start, creates the super user admin and
                        prints its password once (also in <data dir>/security/admin.properties)`

interface Member {
  id: number
  configFile: string
  address: string
  /** Its metrics endpoint; null when its config leaves `metrics.port` at -1. */
  metrics: { host: string; port: number } | null
  dataDir: string
  logFile: WriteStream
  process: LaunchedBroker | null
}

function fail(message: string): never {
  process.stderr.write(`strand cluster: ${message}\n`)
  process.exit(1)
}

function parse(): { configDir: string; dataDir: string | undefined; restartOnCrash: boolean; secure: boolean } {
  try {
    const { values } = parseArgs({
      options: { 'config-dir': { type: 'string' }, 'data-dir': { type: 'string' }, 'restart-on-crash': { type: 'boolean', default: false }, secure: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
      strict: true,
    })
    if (values.help) {
      process.stdout.write(`${USAGE}\n`)
      process.exit(0)
    }
    return { configDir: path.resolve(values['config-dir'] ?? path.join(ROOT, 'config')), dataDir: values['data-dir'], restartOnCrash: values['restart-on-crash'], secure: values.secure }
  } catch (err) {
    return fail(`${(err as Error).message}\n\n${USAGE}`)
  }
}

function members(configDir: string, dataRoot: string | undefined): Member[] {
  if (!existsSync(configDir)) fail(`config directory ${configDir} does not exist.`)
  const files = readdirSync(configDir).filter((f) => /^broker-\d+\.json$/.test(f)).sort()
  if (files.length === 0) fail(`no broker-N.json files in ${configDir}.`)
  return files.map((f) => {
    const configFile = path.join(configDir, f)
    let config
    try {
      config = loadBrokerConfig(configFile, dataRoot === undefined ? [] : [`data.dir=${path.resolve(dataRoot, `broker-${f.match(/\d+/)![0]}`)}`])
    } catch (err) {
      if (err instanceof ConfigError) fail(err.message)
      throw err
    }
    mkdirSync(config.dataDir, { recursive: true })
    const logFile = createWriteStream(`${config.dataDir}.log`, { flags: 'a' })
    const metrics = config.metricsPort < 0 ? null : { host: config.host, port: config.metricsPort }
    return { id: config.nodeId, configFile, address: `${config.host}:${config.port}`, metrics, dataDir: config.dataDir, logFile, process: null }
  })
}

async function start(m: Member, dataRoot: string | undefined, extra: Record<string, string>): Promise<void> {
  const overrides: Record<string, string> = { ...extra, ...(dataRoot === undefined ? {} : { 'data.dir': m.dataDir }) }
  m.process = await launchBroker({ configFile: m.configFile, overrides, onLine: (line) => m.logFile.write(`${line}\n`) })
}

/** The brokers (fenced ones too) and every topic's partitions, as one broker sees them. */
async function describeCluster(address: string, security: SecurityOptions): Promise<ClusterView | null> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))]
  const c = new Connection({ host, port, clientId: 'local-cluster', connectTimeoutMs: 1000, requestTimeoutMs: 1000, inflightRequestsMax: 1, frameBytesMax: 16 << 20, security })
  try {
    const cluster = await c.request(ApiKey.DescribeCluster, {})
    return { cluster, metadata: await c.request(ApiKey.Metadata, { topics: null }) }
  } catch {
    return null
  } finally {
    c.close()
  }
}

/** The view of the first broker that answers. */
async function status(all: Member[], security: SecurityOptions): Promise<ClusterView | null> {
  for (const m of all) {
    if (m.process === null) continue
    const s = await describeCluster(m.address, security)
    if (s !== null) return s
  }
  return null
}

function statusLines(view: ClusterView | null, all: Member[]): string[] {
  return statusScreen(view, all.map((m) => ({ id: m.id, address: m.address, metrics: m.metrics, running: m.process !== null })))
}

async function main(): Promise<void> {
  const { configDir, dataDir, restartOnCrash, secure } = parse()
  const all = members(configDir, dataDir)
  // The security files live beside the brokers' data: one level above broker 1's data dir.
  const local: LocalSecurity | null = secure ? prepareLocalSecurity(path.dirname(all[0]!.dataDir)) : null
  const extra = local?.overrides ?? {}
  const security = local?.client ?? {}
  let stopping = false
  process.stdout.write(`Starting ${all.length} brokers (${all.map((m) => m.address).join(', ')}); logs in ${all.map((m) => `${m.dataDir}.log`).join(', ')}\n`)
  await Promise.all(all.map((m) => start(m, dataDir, extra))).catch((err: unknown) => {
    for (const m of all) m.process?.child.kill('SIGKILL')
    fail(`a broker failed to start: ${(err as Error).message.split('\n')[0]}`)
  })
  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    const s = await status(all, security)
    if (s !== null && s.cluster.controllerId >= 0 && all.every((m) => s.cluster.brokers.some((b) => b.brokerId === m.id && !b.fenced))) break
    if (Date.now() > deadline) {
      for (const m of all) m.process?.child.kill('SIGKILL')
      fail(`the cluster was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${statusLines(s, all).join('\n')}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  process.stdout.write(`Strand cluster ready. Bootstrap: ${all.map((m) => m.address).join(',')}\n`)
  const ready = await status(all, security)
  const kafka = (ready?.cluster.brokers ?? []).flatMap((b) => ((b.kafkaPort ?? -1) > 0 ? [`${b.host}:${b.kafkaPort}`] : []))
  if (kafka.length > 0) process.stdout.write(`Kafka protocol (kcat, librdkafka, Kafka's own clients): ${kafka.join(',')}\n`)
  if (local !== null) {
    const password = await ensureAdmin(local, all.map((m) => m.address)).catch((err: unknown) => fail(`could not create the admin user: ${(err as Error).message}`))
    process.stdout.write(`Security: TLS (CA ${path.join(local.dir, 'ca.pem')}), SASL SCRAM-SHA-256, ACLs on; super user ${ADMIN_USER}.\n`)
    if (password !== null) process.stdout.write(`The ${ADMIN_USER} password, printed this once: ${password}\n`)
    process.stdout.write(`CLI: npx strand topics list --command-config ${local.adminProperties}\n`)
  }
  for (const m of all) watch(m)

  function watch(m: Member): void {
    void m.process!.exited.then(async ({ code, signal }) => {
      if (stopping) return
      m.process = null
      process.stdout.write(`broker ${m.id} exited unexpectedly (code ${code}, signal ${signal}); its log: ${m.dataDir}.log\n`)
      if (!restartOnCrash) return
      process.stdout.write(`restarting broker ${m.id}\n`)
      await start(m, dataDir, extra).then(() => watch(m), (err: unknown) => process.stdout.write(`broker ${m.id} did not restart: ${(err as Error).message.split('\n')[0]}\n`))
    })
  }

  let last = ''
  const timer = setInterval(() => {
    void status(all, security).then((s) => {
      const screen = statusLines(s, all).join('\n')
      if (screen !== last && !stopping) process.stdout.write(`${new Date().toISOString()} ${screen}\n`)
      last = screen
    })
  }, STATUS_INTERVAL_MS)

  const stop = async (signal: string): Promise<void> => {
    if (stopping) return
    stopping = true
    clearInterval(timer)
    process.stdout.write(`${signal}: stopping ${all.length} brokers\n`)
    await Promise.all(all.map((m) => m.process?.stop()))
    const codes = await Promise.all(all.map((m) => m.process?.exited))
    for (const m of all) m.logFile.end()
    const unclean = codes.filter((c) => c !== undefined && c.code !== 0)
    process.stdout.write(unclean.length === 0 ? 'all brokers stopped cleanly\n' : `${unclean.length} brokers did not stop cleanly\n`)
    process.exit(unclean.length === 0 ? 0 : 1)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
}

await main()
