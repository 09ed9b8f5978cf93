// The brokers a benchmark runs against: a fresh local cluster it starts (and whose processes it
// can measure), or a running cluster named by its bootstrap addresses, whose processes it cannot.

import type { SecurityOptions } from '../../client/net/security.js'
import { BenchCluster } from './cluster.js'
import type { MetricsEndpoint } from './lag.js'
import { progress } from './report.js'

export interface Target {
  /** `host:port` of brokers to bootstrap from; known once start() resolved. */
  bootstrap(): string[]
  /** Every broker's metrics listener; empty when unknown (lag is then n/a). */
  metrics(): MetricsEndpoint[]
  /** `host:port` of every broker's Kafka-protocol listener (kafka.listener.port); empty when off or unknown. */
  kafkaBootstrap(): string[]
  /** Broker id and process id of each broker this program spawned; empty for a remote cluster (RSS n/a). */
  brokers(): { id: number; pid: number }[]
  /** Rejects when a broker dies mid-run; every workload is raced against it. */
  readonly failed: Promise<never>
  start(): Promise<void>
  /** Lines about brokers that logged warnings, for the report's notes. */
  warnings(): string[]
  /** Stops whatever start() started; safe to call at any time, and twice. */
  stop(): Promise<void>
}

export interface LocalTargetOptions {
  size: number
  /** Extra Node flags for every broker (`--cpu-prof`). */
  nodeArgs: string[]
  /** The client id of the readiness checks. */
  clientId: string
  /** Broker keys on top of the cluster's own (an A/B of one setting). */
  overrides?: Record<string, string>
  /** TLS and SASL of the readiness checks (a secure cluster). */
  clientSecurity?: SecurityOptions
}

/** A fresh cluster of `size` brokers in a temp dir, every one a quorum voter, logging at warn. */
export function localTarget(o: LocalTargetOptions): Target {
  const cluster = new BenchCluster({ size: o.size, overrides: { 'log.level': 'warn', ...o.overrides }, nodeArgs: o.nodeArgs, clientSecurity: o.clientSecurity ?? {} })
  return {
    bootstrap: () => cluster.bootstrap,
    metrics: () => cluster.members.map((m) => ({ name: String(m.id), host: '127.0.0.1', port: m.metricsPort })),
    kafkaBootstrap: () => cluster.members.flatMap((m) => (m.process === null || m.process.kafkaPort === null ? [] : [`${m.process.host}:${m.process.kafkaPort}`])),
    brokers: () => cluster.members.flatMap((m) => (m.process?.child.pid === undefined ? [] : [{ id: m.id, pid: m.process.child.pid }])),
    failed: cluster.failed,
    start: async () => {
      progress(`starting ${o.size} brokers`)
      await cluster.start(o.clientId)
    },
    warnings: () => cluster.warningSummary(),
    stop: () => cluster.stop(),
  }
}

/**
 * A running cluster. Its metrics listeners are those given (`host:port` each); their node ids are
 * not known, so lag rows name a leader by its metrics address.
 */
export function remoteTarget(bootstrap: string[], metrics: readonly string[]): Target {
  const endpoints = metrics.map((address) => {
    const i = address.lastIndexOf(':')
    const port = Number(address.slice(i + 1))
    if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65_535) throw new Error(`a metrics listener is host:port, got "${address}"`)
    return { name: address, host: address.slice(0, i), port }
  })
  return {
    bootstrap: () => bootstrap,
    metrics: () => endpoints,
    kafkaBootstrap: () => [],
    brokers: () => [],
    failed: new Promise<never>(() => {}),
    start: async () => {},
    warnings: () => [],
    stop: async () => {},
  }
}
