// The broker's configuration: Kafka-style dotted keys in a JSON file, overridable on the command
// line (`--override key=value`), parsed into a typed object. Bad config is a clear error naming
// the key; `broker/main.ts` prints it and exits 1.

import { readFileSync } from 'node:fs'
import path from 'node:path'
import { boolKey, ConfigError, enumKey, intKey, numberKey, parseConfig, stringKey, type ConfigOf } from './config-def.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const DAY_MS = 24 * 60 * 60 * 1000

export const BROKER_CONFIG_DEFS = {
  nodeId: intKey('node.id', 1, { min: 0, max: 2 ** 31 - 1 }, 'This broker\'s id, unique in the cluster.'),
  host: stringKey('listener.host', '127.0.0.1', 'Address the broker listens on.'),
  port: intKey('listener.port', 9092, { min: 0, max: 65535 }, 'TCP port the broker listens on; 0 lets the OS choose.'),
  advertisedHost: stringKey('advertised.host', '', 'Host clients are told to connect to; empty means listener.host.'),
  kafkaListenerPort: intKey('kafka.listener.port', -1, { min: -1, max: 65535 }, 'TCP port of a second listener speaking Apache Kafka\'s wire protocol, on listener.host and advertised at advertised.host (every broker learns every other\'s from its registration); -1 turns it off, 0 lets the OS choose.'),
  dataDir: stringKey('data.dir', './data/broker-1', 'Directory holding the partition logs; relative paths are from the config file.'),
  maxRequestBytes: intKey('max.request.bytes', 100 * MiB, { min: 1024, max: 2 ** 31 - 1 }, 'Largest request frame accepted; larger ones are answered with an error and the connection closed.'),
  maxConnections: intKey('max.connections', 1000, { min: 1 }, 'Connections accepted at once; further ones are closed on arrival.'),
  connectionsMaxIdleMs: intKey('connections.max.idle.ms', 10 * 60 * 1000, { min: 1000 }, 'A connection on which no byte is read or written for this long is closed (a partial request is bounded by request.read.timeout.ms).'),
  requestReadTimeoutMs: intKey('request.read.timeout.ms', 30_000, { min: 10 }, 'A request frame must arrive whole within this long of its first byte, else the connection is closed (slow-loris defense); time the broker spends not reading, under backpressure, does not count. Must exceed max.request.bytes over the slowest client link.'),
  inflightRequestsMax: intKey('max.inflight.requests.per.connection', 100, { min: 1, max: 10000 }, 'Requests a connection may have in flight before the broker stops reading from it.'),
  autoCreateTopics: boolKey('auto.create.topics.enable', false, 'Create a topic when a client first produces to or fetches from it.'),
  numPartitions: intKey('num.partitions', 1, { min: 1, max: 10000 }, 'Partitions of an auto-created topic or one created without a count.'),
  defaultReplicationFactor: intKey('default.replication.factor', 1, { min: 1, max: 100 }, 'Replication factor of a topic created without one.'),
  logLevel: enumKey('log.level', 'info', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const, 'Level of the broker\'s pino log.'),
  logSegmentBytes: intKey('log.segment.bytes', GiB, { min: 1024, max: 2 ** 31 - 1 }, 'Default segment.bytes: roll a segment at this size.'),
  logSegmentMs: intKey('log.segment.ms', 7 * DAY_MS, { min: 1 }, 'Default segment.ms: roll a segment after this age.'),
  logIndexIntervalBytes: intKey('log.index.interval.bytes', 4096, { min: 1 }, 'Default index.interval.bytes: bytes between offset index entries.'),
  logRetentionMs: intKey('log.retention.ms', 7 * DAY_MS, { min: -1 }, 'Default retention.ms: delete segments older than this; -1 keeps them.'),
  logRetentionBytes: intKey('log.retention.bytes', -1, { min: -1 }, 'Default retention.bytes: delete old segments past this partition size; -1 keeps them.'),
  logRetentionCheckIntervalMs: intKey('log.retention.check.interval.ms', 5 * 60 * 1000, { min: 100 }, 'How often retention runs.'),
  logFlushMessages: intKey('log.flush.messages', -1, { min: -1 }, 'Default flush.messages: fsync after this many messages; -1 leaves it to the OS.'),
  logFlushMs: intKey('log.flush.ms', -1, { min: -1 }, 'Default flush.ms: fsync data older than this; -1 leaves it to the OS.'),
  logCleanerBackoffMs: intKey('log.cleaner.backoff.ms', 15_000, { min: 1 }, 'How often the log cleaner looks for a compacted log (cleanup.policy with compact) dirty enough to clean; it cleans one log per pass.'),
  logReadCacheBytes: intKey('log.read.cache.bytes', 8 * MiB, { min: 0, max: 2 * GiB }, 'Memory for the latest appends of every partition, so followers and consumers at the log end read them without a file read; 0 turns it off. Kept small on purpose: appends that outlive two young GCs here cost mark-compacts (read-cache.ts).'),
  logCleanerDedupeBufferBytes: intKey('log.cleaner.dedupe.buffer.size', 64 * MiB, { min: MiB, max: 2 * GiB }, 'Memory the log cleaner\'s key -> latest offset map may use; a dirty section with more keys is cleaned over several passes.'),
  logCleanerDeleteRetentionMs: intKey('log.cleaner.delete.retention.ms', DAY_MS, { min: 0 }, 'Default delete.retention.ms: how long a compacted log keeps a tombstone (a null value) before the cleaner removes it.'),
  logCleanerMinCleanableRatio: numberKey('log.cleaner.min.cleanable.ratio', 0.5, { min: 0, max: 1 }, 'Default min.cleanable.dirty.ratio: clean a compacted log once this share of its closed segments\' bytes was written since its last clean.'),
  logCleanerMinCompactionLagMs: intKey('log.cleaner.min.compaction.lag.ms', 0, { min: 0 }, 'Default min.compaction.lag.ms: a record stays uncompacted at least this long after its timestamp.'),
  fsync: enumKey('fsync', 'policy', ['always', 'policy'] as const, '"always": fsync every append before acknowledging it (one-node durability); "policy": the flush.* settings.'),
  messageMaxBytes: intKey('message.max.bytes', MiB, { min: 64 }, 'Largest record batch the broker accepts.'),
  quorumVoters: stringKey(
    'controller.quorum.voters',
    '',
    'The metadata quorum as id@host:port,... (Kafka\'s format); empty: this broker alone.',
    /^$|^\d+@[^@,\s:]+:\d{1,5}(,\d+@[^@,\s:]+:\d{1,5})*$/,
  ),
  quorumElectionTimeoutMs: intKey('controller.quorum.election.timeout.ms', 1000, { min: 10 }, 'A voter that hears no leader for between this and twice this starts an election.'),
  brokerHeartbeatIntervalMs: intKey('broker.heartbeat.interval.ms', 500, { min: 10 }, 'How often a broker heartbeats to the active controller.'),
  brokerSessionTimeoutMs: intKey('broker.session.timeout.ms', 9000, { min: 50 }, 'A broker whose heartbeats stop for this long is fenced by the controller.'),
  replicaLagTimeMaxMs: intKey('replica.lag.time.max.ms', 10_000, { min: 10 }, 'A follower that has not caught up with the leader for this long leaves the ISR.'),
  replicaFetchWaitMaxMs: intKey('replica.fetch.wait.max.ms', 500, { min: 0, max: 30_000 }, 'Longest a follower\'s fetch waits at the leader for new data.'),
  replicaFetchMaxBytes: intKey('replica.fetch.max.bytes', MiB, { min: 1024, max: 64 * MiB }, 'Bytes a follower asks for per partition in one fetch (at least one batch always comes).'),
  replicaFetchResponseMaxBytes: intKey('replica.fetch.response.max.bytes', 10 * MiB, { min: 1024, max: 64 * MiB }, 'Bytes a follower asks for in one fetch over all partitions.'),
  replicaFetchBackoffMs: intKey('replica.fetch.backoff.ms', 100, { min: 1 }, 'Pause before a follower retries after a fetch error.'),
  replicaHighWatermarkCheckpointIntervalMs: intKey('replica.high.watermark.checkpoint.interval.ms', 5000, { min: 10 }, 'How often the high watermarks are written to disk.'),
  offsetsTopicPartitions: intKey('offsets.topic.num.partitions', 50, { min: 1, max: 1000 }, 'Partitions of the internal __consumer_offsets topic, created on the first group request.'),
  offsetsTopicReplicationFactor: intKey('offsets.topic.replication.factor', 3, { min: 1, max: 100 }, 'Replication factor of __consumer_offsets (fewer if fewer brokers are alive when it is created).'),
  offsetsCommitTimeoutMs: intKey('offsets.commit.timeout.ms', 5000, { min: 1 }, 'How long an offset commit or group assignment waits for the offsets partition\'s ISR.'),
  transactionStateLogPartitions: intKey('transaction.state.log.num.partitions', 50, { min: 1, max: 1000 }, 'Partitions of the internal __transaction_state topic, created on the first transactional request.'),
  transactionStateLogReplicationFactor: intKey('transaction.state.log.replication.factor', 3, { min: 1, max: 100 }, 'Replication factor of __transaction_state (fewer if fewer brokers are alive when it is created).'),
  transactionStateLogMinIsr: intKey('transaction.state.log.min.isr', 2, { min: 1, max: 100 }, 'min.insync.replicas of __transaction_state (at most its replication factor).'),
  transactionMaxTimeoutMs: intKey('transaction.max.timeout.ms', 900_000, { min: 1 }, 'Largest transaction.timeout.ms a producer may ask for.'),
  transactionAbortTimedOutCheckIntervalMs: intKey('transaction.abort.timed.out.transaction.cleanup.interval.ms', 10_000, { min: 10 }, 'How often the coordinator aborts transactions open past their timeout.'),
  transactionMarkerRetryBackoffMs: intKey('transaction.marker.retry.backoff.ms', 100, { min: 1 }, 'Pause before the coordinator resends commit / abort markers that failed.'),
  groupInitialRebalanceDelayMs: intKey('group.initial.rebalance.delay.ms', 300, { min: 0 }, 'An empty group\'s first rebalance waits this long for more members to join.'),
  groupMinSessionTimeoutMs: intKey('group.min.session.timeout.ms', 500, { min: 1 }, 'Smallest session timeout a group member may ask for.'),
  groupMaxSessionTimeoutMs: intKey('group.max.session.timeout.ms', 30 * 60 * 1000, { min: 1 }, 'Largest session timeout a group member may ask for.'),
  groupMaxSize: intKey('group.max.size', 1000, { min: 1 }, 'Members one group may have.'),
  metricsPort: intKey('metrics.port', -1, { min: -1, max: 65535 }, 'HTTP port serving Prometheus metrics at /metrics; -1 turns it off, 0 lets the OS choose.'),
  autoLeaderRebalance: boolKey('auto.leader.rebalance.enable', true, 'The controller moves leadership back to the preferred (first) replica once it is in sync.'),
  leaderImbalanceCheckIntervalMs: intKey('leader.imbalance.check.interval.ms', 5000, { min: 10 }, 'How often the controller looks for partitions led by other than their preferred replica.'),
  quorumHeartbeatIntervalMs: intKey('controller.quorum.heartbeat.interval.ms', 100, { min: 5 }, 'How often the quorum leader sends appends when it has nothing new; below the election timeout.'),
  metadataSnapshotEntries: intKey('metadata.snapshot.entries', 10_000, { min: 1 }, 'Snapshot the metadata image after this many committed metadata log entries, so old log segments can be deleted.'),
  metadataLogSegmentBytes: intKey('metadata.log.segment.bytes', MiB, { min: 4096, max: 64 * MiB }, 'Segment size of the metadata log: whole segments below the older kept snapshot are deleted, so smaller ones free space sooner. One metadata entry must fit in a segment.'),
  securityProtocol: enumKey('listener.security.protocol', 'plaintext', ['plaintext', 'tls'] as const, '"tls": the listener speaks TLS (node:tls) with tls.cert.file and tls.key.file, and this broker connects to the others over TLS.'),
  tlsCertFile: stringKey('tls.cert.file', '', 'PEM certificate (chain) of this broker, presented to clients and, as a client, to other brokers; relative paths are from the config file.'),
  tlsKeyFile: stringKey('tls.key.file', '', 'PEM private key of tls.cert.file.'),
  tlsCaFile: stringKey('tls.ca.file', '', 'PEM CA certificates that client certificates (tls.client.auth=required) and other brokers\' certificates must chain to; empty: Node\'s default CAs.'),
  tlsClientAuth: enumKey('tls.client.auth', 'none', ['none', 'required'] as const, '"required": clients must present a certificate from tls.ca.file (mTLS); without SASL, its subject (User:CN=...) is the principal.'),
  saslEnabledMechanisms: stringKey('sasl.enabled.mechanisms', '', 'Comma-separated SASL mechanisms (PLAIN, SCRAM-SHA-256) the listener requires before any other request; empty: no SASL.', /^$|^(PLAIN|SCRAM-SHA-256)(,(PLAIN|SCRAM-SHA-256))*$/),
  allowPlaintextPasswords: boolKey('allow.plaintext.passwords', false, 'Offer PLAIN on a listener without TLS, where the password crosses the network in the clear.'),
  interBrokerSaslMechanism: enumKey('inter.broker.sasl.mechanism', 'SCRAM-SHA-256', ['PLAIN', 'SCRAM-SHA-256'] as const, 'Mechanism brokers authenticate to each other with when SASL is enabled.'),
  interBrokerSaslUsername: stringKey('inter.broker.sasl.username', '', 'The brokers\' own SASL user (the same on every broker): known from this config, not the metadata log, so brokers can authenticate before the quorum runs; always a super user.'),
  interBrokerSaslPassword: stringKey('inter.broker.sasl.password', '', 'Password of inter.broker.sasl.username; never sent by DescribeConfigs.'),
  interBrokerSaslPasswordFile: stringKey('inter.broker.sasl.password.file', '', 'A file whose first line is inter.broker.sasl.password, so the password is neither in the config nor on a command line; relative paths are from the config file.'),
  superUsers: stringKey('super.users', '', 'Semicolon-separated principals allowed everything (User:admin;User:CN=broker-1).'),
  authorizerEnabled: boolKey('authorizer.enabled', false, 'Deny what no ACL allows even while no ACL exists (once any ACL exists, that is the rule anyway).'),
  saslAuthenticationTimeoutMs: intKey('sasl.authentication.timeout.ms', 10_000, { min: 100, max: 300_000 }, 'A connection to a listener requiring SASL that has not authenticated within this long of connecting is closed: strangers cannot hold connection slots.'),
  saslFailedAuthenticationDelayMs: intKey('sasl.failed.authentication.delay.ms', 100, { min: 0, max: 10_000 }, 'A failed authentication is answered after this delay and its connection closed: one guess per connection, at most this often.'),
}

export type BrokerConfig = ConfigOf<typeof BROKER_CONFIG_DEFS>

export const DEFAULT_BROKER_CONFIG: BrokerConfig = parseConfig(BROKER_CONFIG_DEFS, {}, 'defaults')

/** Parses a whole config object (a JSON file's content merged with overrides). */
export function parseBrokerConfig(raw: Readonly<Record<string, unknown>>, where: string): BrokerConfig {
  return parseConfig(BROKER_CONFIG_DEFS, raw, where)
}

/** `key=value` strings from the command line into an object; a string without `=` is an error. */
export function parseOverrides(overrides: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const o of overrides) {
    const eq = o.indexOf('=')
    if (eq <= 0) throw new ConfigError(`Override "${o}" must look like key=value.`)
    out[o.slice(0, eq)] = o.slice(eq + 1)
  }
  return out
}

/**
 * Loads a JSON config file and applies overrides. Relative `data.dir` values are resolved from
 * the file's directory, so a config works whatever the current directory is.
 */
export function loadBrokerConfig(file: string | undefined, overrides: readonly string[]): BrokerConfig {
  let raw: Record<string, unknown> = {}
  let where = 'defaults'
  if (file !== undefined) {
    where = file
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new ConfigError(`Cannot read config file ${file}: ${(err as Error).message}`)
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>
    } catch (err) {
      throw new ConfigError(`Config file ${file} is not valid JSON: ${(err as Error).message}`)
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ConfigError(`Config file ${file} must hold a JSON object of "key": value pairs.`)
    }
  }
  const merged = { ...raw, ...parseOverrides(overrides) }
  const config = parseBrokerConfig(merged, overrides.length > 0 ? `${where} with overrides` : where)
  const base = file === undefined ? process.cwd() : path.dirname(path.resolve(file))
  const file_ = (f: string): string => (f === '' ? '' : path.resolve(base, f))
  const resolved = { ...config, dataDir: path.resolve(base, config.dataDir), tlsCertFile: file_(config.tlsCertFile), tlsKeyFile: file_(config.tlsKeyFile), tlsCaFile: file_(config.tlsCaFile), interBrokerSaslPasswordFile: file_(config.interBrokerSaslPasswordFile) }
  return { ...resolved, interBrokerSaslPassword: passwordOf(resolved) }
}

/** inter.broker.sasl.password, or the first line of inter.broker.sasl.password.file (not both). */
function passwordOf(config: BrokerConfig): string {
  const file = config.interBrokerSaslPasswordFile
  if (file === '') return config.interBrokerSaslPassword
  if (config.interBrokerSaslPassword !== '') throw new ConfigError('Set inter.broker.sasl.password or inter.broker.sasl.password.file, not both.')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`inter.broker.sasl.password.file ${file} cannot be read: ${(err as Error).message}`)
  }
  const password = text.split(/\r?\n/)[0] ?? ''
  if (password === '') throw new ConfigError(`inter.broker.sasl.password.file ${file} is empty.`)
  return password
}
