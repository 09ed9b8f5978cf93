// Per-topic configuration (the `configs` of CreateTopics) and topic name rules. Topic keys are
// Kafka's names; each one's default comes from the broker's `log.*` key of the same meaning.

import { boolKey, ConfigError, enumKey, intKey, numberKey, parseConfig, type ConfigOf } from './config-def.js'
import type { BrokerConfig } from './config.js'

/** Kafka's limit: a partition directory `<topic>-<partition>` must fit a 255-byte file name. */
export const TOPIC_NAME_CHARS_MAX = 249
const TOPIC_NAME_PATTERN = /^[a-zA-Z0-9._-]+$/
/** The metadata quorum's log lives in `<data.dir>/__cluster_metadata-0`, like a partition's. */
export const METADATA_TOPIC = '__cluster_metadata'
/** Committed offsets and group generations (broker/group), internal and compacted. */
export const OFFSETS_TOPIC = '__consumer_offsets'
/** Transaction coordinators' state per transactional id (broker/txn), internal and compacted. */
export const TRANSACTION_STATE_TOPIC = '__transaction_state'

/** Returns why `name` is not a valid topic name, or null when it is. */
export function topicNameProblem(name: string): string | null {
  if (name.length === 0) return 'the name is empty'
  if (name.length > TOPIC_NAME_CHARS_MAX) return `the name is longer than ${TOPIC_NAME_CHARS_MAX} characters`
  if (name === '.' || name === '..') return 'the name cannot be "." or ".."'
  if (name === METADATA_TOPIC) return `"${METADATA_TOPIC}" is reserved for the metadata quorum's log`
  if (!TOPIC_NAME_PATTERN.test(name)) return 'the name may only hold ASCII letters, digits, ".", "_" and "-"'
  return null
}

function topicDefs(b: BrokerConfig) {
  return {
    segmentBytes: intKey('segment.bytes', b.logSegmentBytes, { min: 1024, max: 2 ** 31 - 1 }, 'Roll a segment at this size.'),
    segmentMs: intKey('segment.ms', b.logSegmentMs, { min: 1 }, 'Roll a segment after this age.'),
    indexIntervalBytes: intKey('index.interval.bytes', b.logIndexIntervalBytes, { min: 1 }, 'Bytes between offset index entries.'),
    retentionMs: intKey('retention.ms', b.logRetentionMs, { min: -1 }, 'Delete segments older than this; -1 keeps them.'),
    retentionBytes: intKey('retention.bytes', b.logRetentionBytes, { min: -1 }, 'Delete old segments past this size; -1 keeps them.'),
    flushMessages: intKey('flush.messages', b.logFlushMessages, { min: -1 }, 'fsync after this many messages; -1 leaves it to the OS.'),
    flushMs: intKey('flush.ms', b.logFlushMs, { min: -1 }, 'fsync data older than this; -1 leaves it to the OS.'),
    maxMessageBytes: intKey('max.message.bytes', b.messageMaxBytes, { min: 64 }, 'Largest record batch accepted for this topic.'),
    minInsyncReplicas: intKey('min.insync.replicas', 1, { min: 1 }, 'With acks=all, fewer in-sync replicas than this fail the produce.'),
    uncleanLeaderElection: boolKey('unclean.leader.election.enable', false, 'With no in-sync replica alive, elect any live replica (may lose acknowledged records).'),
    cleanupPolicy: enumKey('cleanup.policy', 'delete', ['delete', 'compact', 'compact,delete'] as const, 'delete old segments, or keep the latest record per key.'),
    deleteRetentionMs: intKey('delete.retention.ms', b.logCleanerDeleteRetentionMs, { min: 0 }, 'A compacted log keeps a tombstone (null value) this long past its segment\'s newest timestamp.'),
    minCleanableDirtyRatio: numberKey('min.cleanable.dirty.ratio', b.logCleanerMinCleanableRatio, { min: 0, max: 1 }, 'Clean a compacted log once this share of its closed segments is dirty (written since the last clean).'),
    minCompactionLagMs: intKey('min.compaction.lag.ms', b.logCleanerMinCompactionLagMs, { min: 0 }, 'Segments with a record newer than this are not compacted yet.'),
  }
}

export type TopicConfig = ConfigOf<ReturnType<typeof topicDefs>>

/**
 * Parses a topic's overrides over the broker's defaults. Throws ConfigError (wire code
 * INVALID_CONFIG) naming the key.
 */
export function parseTopicConfig(broker: BrokerConfig, raw: Readonly<Record<string, string | null>>): TopicConfig {
  const present: Record<string, string> = {}
  for (const [k, v] of Object.entries(raw)) {
    if (v === null) throw new ConfigError(`Topic config "${k}" has no value.`)
    present[k] = v
  }
  return parseConfig(topicDefs(broker), present, 'topic config')
}

/** One key of a topic's effective configuration, as DescribeConfigs reports it. */
export interface TopicConfigEntry {
  /** The dotted key (`retention.ms`). */
  name: string
  /** The effective value, as a string (`-1`, `true`, `compact,delete`). */
  value: string
  /** False when the topic overrides the key; true when the value is the broker's default. */
  isDefault: boolean
}

/**
 * Every topic key with its effective value over `broker`'s defaults. The defaults are those of
 * the broker asked: brokers with different `log.*` settings report different defaults. Throws
 * ConfigError when an override does not parse (a key this build does not know).
 */
export function describeTopicConfig(broker: BrokerConfig, overrides: Readonly<Record<string, string>>): TopicConfigEntry[] {
  const defs = topicDefs(broker)
  const parsed: Record<string, unknown> = parseTopicConfig(broker, overrides)
  return Object.entries(defs).map(([field, def]) => ({ name: def.key, value: String(parsed[field]), isDefault: !Object.hasOwn(overrides, def.key) }))
}
