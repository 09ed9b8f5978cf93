// A cluster of real broker processes for tests: every broker is a quorum voter, with its own temp
// data dir and a port chosen up front (the voter list names them), kept across restarts. Short
// timeouts so elections, fencing and ISR changes happen within a test's patience.
//
// A broker can be paused (SIGSTOP): it keeps its sockets, so peers connect and send, but nothing
// answers, which is how a hung or GC-stalled broker looks. A paused broker is still reaped at
// teardown: SIGKILL ends a stopped process (no SIGCONT needed).

import { Strand, type SaslOptions, type TlsOptions } from '../../client/index.js'
import { secureSettings, securityFromEnv } from './secure.js'
import { Connection } from '../../client/net/connection.js'
import { rawConnection } from './connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import type { PartitionInfo } from '../../client/cluster.js'
import { spawnBroker, stopBroker, tempDir, type BrokerProcess, type Teardown } from './broker-process.js'
import type { NetLab } from './netns.js'
import { freePorts } from './ports.js'
import { waitFor } from './wait.js'

export interface ClusterOptions {
  size?: number
  /** Applied to every broker, over the cluster's test defaults. */
  overrides?: Record<string, string | number | boolean>
  /** TLS and SASL of the clients client() makes (a secure cluster's, see secure.ts). */
  clientSecurity?: { tls?: TlsOptions; sasl?: SaslOptions }
  /**
   * Runs broker i in host i of this lab (netns.ts), listening on the host's own address, so the
   * links between brokers can be cut. Default: every broker on 127.0.0.1, in this namespace.
   */
  network?: NetLab
  /** Added to every broker's environment when the cluster starts it (STRAND_FAILPOINTS: broker/failpoints.ts); startBroker may say otherwise for a restart. */
  env?: Record<string, string>
}

/** The port every broker listens on inside its own network namespace (each has its own ports). */
const NETNS_PORT = 9092

export const TEST_CLUSTER_DEFAULTS = {
  'controller.quorum.election.timeout.ms': 300,
  'controller.quorum.heartbeat.interval.ms': 50,
  'broker.heartbeat.interval.ms': 100,
  'broker.session.timeout.ms': 1500,
  'replica.lag.time.max.ms': 1500,
  'replica.fetch.wait.max.ms': 200,
  'leader.imbalance.check.interval.ms': 1000,
} as const

export interface TestClientOptions {
  /** Bootstrap from these brokers only (the first is asked first); default every broker. */
  brokers?: number[]
  /** A short one keeps requests to a paused broker from hanging for the client's default 30 s. */
  requestTimeoutMs?: number
  /** Overrides the cluster's client TLS / SASL (another user; none). */
  tls?: TlsOptions | null
  sasl?: SaslOptions | null
  retriesMax?: number
}

export class TestCluster {
  /** By broker id - 1: the address each listens on and advertises. */
  readonly hosts: readonly string[]
  readonly ports: readonly number[]
  readonly dataDirs: readonly string[]
  /** By broker id - 1; null while a broker is down. */
  readonly brokers: (BrokerProcess | null)[]
  readonly #t: Teardown
  readonly #overrides: Record<string, string | number | boolean>
  readonly #voters: string
  /** Brokers SIGSTOPped and not resumed yet. */
  readonly #paused = new Set<number>()
  /** The clients' TLS and SASL. */
  readonly clientSecurity: { tls?: TlsOptions; sasl?: SaslOptions }
  /** The lab the brokers run in, when they do. */
  readonly network: NetLab | null
  readonly #env: Record<string, string>

  private constructor(t: Teardown, hosts: string[], ports: number[], overrides: Record<string, string | number | boolean>, clientSecurity: { tls?: TlsOptions; sasl?: SaslOptions }, network: NetLab | null, env: Record<string, string>) {
    this.#t = t
    this.#env = env
    this.clientSecurity = clientSecurity
    this.hosts = hosts
    this.ports = ports
    this.network = network
    this.dataDirs = ports.map(() => tempDir(t))
    this.brokers = ports.map(() => null)
    this.#voters = ports.map((p, i) => `${i + 1}@${hosts[i]}:${p}`).join(',')
    this.#overrides = overrides
  }

  static async start(t: Teardown, options: ClusterOptions = {}): Promise<TestCluster> {
    let overrides = { ...TEST_CLUSTER_DEFAULTS, ...options.overrides }
    let clientSecurity = options.clientSecurity ?? {}
    if (options.clientSecurity === undefined && securityFromEnv()) {
      const secure = await secureSettings(t)
      if ('unavailable' in secure) throw new Error(`STRAND_TEST_SECURITY is set, but ${secure.unavailable}`)
      overrides = { ...secure.overrides, ...overrides }
      clientSecurity = { tls: secure.tls, sasl: secure.brokerSasl }
    }
    const size = options.size ?? 3
    const network = options.network ?? null
    if (network !== null && network.hosts < size) throw new Error(`The lab has ${network.hosts} hosts for ${size} brokers.`)
    const ports = network === null ? await freePorts(size) : Array.from({ length: size }, () => NETNS_PORT)
    const hosts = Array.from({ length: size }, (_, i) => (network === null ? '127.0.0.1' : network.address(i + 1)))
    const cluster = new TestCluster(t, hosts, ports, overrides, clientSecurity, network, options.env ?? {})
    await Promise.all(ports.map((_, i) => cluster.startBroker(i + 1)))
    await cluster.waitForBrokers(ports.map((_, i) => i + 1))
    return cluster
  }

  get bootstrap(): string[] {
    return this.ids.map((id) => this.address(id))
  }

  /** Broker `id`'s host:port. */
  address(id: number): string {
    return `${this.hosts[id - 1]}:${this.ports[id - 1]}`
  }

  get ids(): number[] {
    return this.ports.map((_, i) => i + 1)
  }

  broker(id: number): BrokerProcess {
    const b = this.brokers[id - 1]
    if (b === null || b === undefined) throw new Error(`Broker ${id} is not running.`)
    return b
  }

  /** Starts (or restarts) broker `id` on its port and data dir; `env` replaces the cluster's `env` option. */
  async startBroker(id: number, overrides: Record<string, string | number | boolean> = {}, env: Record<string, string> = this.#env): Promise<BrokerProcess> {
    const b = await spawnBroker(this.#t, {
      dataDir: this.dataDirs[id - 1],
      port: this.ports[id - 1],
      overrides: { 'node.id': id, 'controller.quorum.voters': this.#voters, 'listener.host': this.hosts[id - 1]!, ...this.#overrides, ...overrides },
      ...(this.network === null ? {} : { wrapper: this.network.exec(id) }),
      env,
    })
    this.brokers[id - 1] = b
    return b
  }

  /** SIGKILL, and wait for the exit (a paused broker too). */
  async kill(id: number): Promise<void> {
    const b = this.broker(id)
    b.kill('SIGKILL')
    await b.exited
    this.#paused.delete(id)
    this.brokers[id - 1] = null
  }

  /** SIGTERM (a clean shutdown), and wait for the exit. A paused broker is resumed first, or SIGTERM would wait. */
  async stop(id: number): Promise<void> {
    if (this.#paused.has(id)) this.resume(id)
    await stopBroker(this.broker(id))
    this.brokers[id - 1] = null
  }

  /** SIGSTOP: the broker freezes with its sockets open (no heartbeats, fetches, answers). */
  pause(id: number): void {
    this.broker(id).kill('SIGSTOP')
    this.#paused.add(id)
  }

  /** SIGCONT: a paused broker carries on where it stopped. */
  resume(id: number): void {
    this.broker(id).kill('SIGCONT')
    this.#paused.delete(id)
  }

  /** A client bootstrapped from every broker (or `options.brokers`), closed at teardown. */
  client(clientId = 'test', options: TestClientOptions = {}): Strand {
    const ids = options.brokers ?? this.ids
    const strand = new Strand({
      brokers: ids.map((id) => this.address(id)),
      clientId,
      retry: { retriesMax: options.retriesMax ?? 50, retryBackoffMs: 50, retryBackoffMsMax: 500 },
      ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
      ...this.#security(options),
    })
    this.#t.teardown(() => strand.close())
    return strand
  }

  #security(options: TestClientOptions): { tls?: TlsOptions; sasl?: SaslOptions } {
    const tls = options.tls === undefined ? this.clientSecurity.tls : options.tls
    const sasl = options.sasl === undefined ? this.clientSecurity.sasl : options.sasl
    return { ...(tls === null || tls === undefined ? {} : { tls }), ...(sasl === null || sasl === undefined ? {} : { sasl }) }
  }

  /** Waits until every running broker accepts `sasl` (a new user reaches each as it replays the metadata log). */
  async waitForUser(sasl: SaslOptions): Promise<void> {
    for (const [i, port] of this.ports.entries()) {
      if (this.brokers[i] === null) continue
      await waitFor(
        async () => {
          const c = new Connection({ host: this.hosts[i]!, port, clientId: 'user-wait', connectTimeoutMs: 2000, requestTimeoutMs: 2000, inflightRequestsMax: 1, frameBytesMax: 1 << 20, security: { ...this.clientSecurity, sasl } })
          try {
            await c.request(ApiKey.ApiVersions, {})
            return true
          } finally {
            c.close()
          }
        },
        { what: `broker ${i + 1} to accept user ${sasl.username}`, timeoutMs: 15_000, intervalMs: 50 },
      )
    }
  }

  /** A raw connection to broker `id`, closed at teardown. */
  connection(id: number, clientId = 'test-raw', timeoutMs = 2000): Connection {
    return rawConnection(this.#t, this.ports[id - 1]!, clientId, { host: this.hosts[id - 1]!, security: this.clientSecurity, timeoutMs })
  }

  /** Waits until exactly `ids` are registered and unfenced, as seen through `client`. */
  async waitForBrokers(ids: number[], client?: Strand): Promise<void> {
    const strand = client ?? this.client('cluster-wait')
    await waitFor(
      async () => {
        const d = await strand.admin().describeCluster().catch(() => null)
        // Metadata lists only unfenced brokers.
        const live = d?.brokers.map((b) => b.nodeId).sort((a, b) => a - b)
        return JSON.stringify(live) === JSON.stringify([...ids].sort((a, b) => a - b))
      },
      { what: `brokers ${ids.join(',')} registered and unfenced`, timeoutMs: 30_000, intervalMs: 50 },
    )
  }

  /** The partition as the metadata of the broker `client` reaches says. */
  async partition(client: Strand, topic: string, partition: number): Promise<PartitionInfo | null> {
    // One admin per call, closed at once: waits poll often, and each admin holds a connection.
    const admin = client.admin()
    try {
      const md = await admin.metadata([topic]).catch(() => null)
      return md?.topics.find((t) => t.name === topic)?.partitions.find((p) => p.partition === partition) ?? null
    } finally {
      await admin.close()
    }
  }

  /** Waits until the partition satisfies `ok` (leader, ISR...), and returns it. */
  async waitForPartition(client: Strand, topic: string, partition: number, ok: (p: PartitionInfo) => boolean, what: string): Promise<PartitionInfo> {
    return waitFor(
      async () => {
        const p = await this.partition(client, topic, partition)
        return p !== null && ok(p) ? p : false
      },
      { what: `${topic}-${partition}: ${what}`, timeoutMs: 30_000, intervalMs: 50 },
    )
  }
}
