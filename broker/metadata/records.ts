// Metadata records: what the quorum's log holds, one record per Raft entry. Each is an Avro
// record (compiled with the protocol's avsc helpers) behind a 3-byte envelope:
//
//   kind uint16 | version uint8 | Avro body
//
// A kind and a released version never change meaning; a new field means a new version of that
// kind. Decoding takes every version this build knows and brings an older one up to the latest
// shape (the new fields at their "absent" values), so logs and snapshots written before stay
// readable. Encoding writes the lowest version that holds the record without loss: a record that
// needs nothing new is written exactly as before, so brokers of the previous build (a rolling
// upgrade, a downgrade) still read every entry of a cluster that does not use the new field.
// The controller validates a change before proposing it; replaying committed records is then
// deterministic on every broker (image.ts).
//
// Versions beyond 0:
//   registerBroker v1   adds kafkaPort, the broker's Kafka wire listener port (-1: none; v0 reads as -1)

import type avro from 'avsc'
import { array, boolean, bytes, compileGuarded, int, long, nullable, record, string, type Value } from '../../client/protocol/avro.js'

const RegisterBrokerV0 = record('RegisterBrokerRecordV0', { brokerId: int, host: string, port: int, incarnationId: string })
/** `kafkaPort`: the broker's Kafka wire listener at its advertised host; -1 when it has none. */
const RegisterBrokerV1 = record('RegisterBrokerRecordV1', { brokerId: int, host: string, port: int, incarnationId: string, kafkaPort: int })
const BrokerFencingV0 = record('BrokerFencingRecordV0', { brokerId: int, fenced: boolean })
const TopicV0 = record('TopicRecordV0', { name: string, topicId: string, configs: array(record('TopicConfigEntry', { key: string, value: string })) })
const PartitionV0 = record('PartitionRecordV0', {
  topic: string,
  partition: int,
  replicas: array(int),
  isr: array(int),
  /** -1: no leader. */
  leader: int,
  leaderEpoch: int,
  /** Bumped by every change; a change proposed against an older epoch is refused (compare-and-set). */
  partitionEpoch: int,
})
const RemoveTopicV0 = record('RemoveTopicRecordV0', { name: string, reason: nullable(string) })
/** The cluster's id, chosen once by the first controller; every broker reports it. */
const ClusterV0 = record('ClusterRecordV0', { clusterId: string })
/** A block of producer ids given to a broker: every id below `nextProducerId` is taken. */
const ProducerIdsV0 = record('ProducerIdsRecordV0', { brokerId: int, nextProducerId: long })
/**
 * A SCRAM user: what RFC 5802 lets a server keep, never the password. The same record again
 * replaces the user's credential for that mechanism.
 */
const ScramCredentialV0 = record('ScramCredentialRecordV0', { name: string, mechanism: string, salt: bytes, iterations: int, storedKey: bytes, serverKey: bytes })
const RemoveScramCredentialV0 = record('RemoveScramCredentialRecordV0', { name: string, mechanism: string })
/** One ACL; `id` is chosen by the controller, and fields hold authorizer.ts's names (`topic`, `prefixed`, `read`, `allow`). */
const AclV0 = record('AclRecordV0', {
  id: string,
  resourceType: string,
  resourceName: string,
  patternType: string,
  principal: string,
  host: string,
  operation: string,
  permission: string,
})
const RemoveAclV0 = record('RemoveAclRecordV0', { id: string })

export type RegisterBrokerRecord = Value<typeof RegisterBrokerV1>
export type BrokerFencingRecord = Value<typeof BrokerFencingV0>
export type TopicRecord = Value<typeof TopicV0>
export type PartitionRecord = Value<typeof PartitionV0>
export type RemoveTopicRecord = Value<typeof RemoveTopicV0>
export type ClusterRecord = Value<typeof ClusterV0>
export type ProducerIdsRecord = Value<typeof ProducerIdsV0>
export type ScramCredentialRecord = Value<typeof ScramCredentialV0>
export type RemoveScramCredentialRecord = Value<typeof RemoveScramCredentialV0>
export type AclRecord = Value<typeof AclV0>
export type RemoveAclRecord = Value<typeof RemoveAclV0>

export type MetadataRecord =
  | { kind: 'registerBroker'; record: RegisterBrokerRecord }
  | { kind: 'brokerFencing'; record: BrokerFencingRecord }
  | { kind: 'topic'; record: TopicRecord }
  | { kind: 'partition'; record: PartitionRecord }
  | { kind: 'removeTopic'; record: RemoveTopicRecord }
  | { kind: 'cluster'; record: ClusterRecord }
  | { kind: 'producerIds'; record: ProducerIdsRecord }
  | { kind: 'scramCredential'; record: ScramCredentialRecord }
  | { kind: 'removeScramCredential'; record: RemoveScramCredentialRecord }
  | { kind: 'acl'; record: AclRecord }
  | { kind: 'removeAcl'; record: RemoveAclRecord }

/** One released version of a kind. */
interface VersionCodec {
  readonly type: avro.Type
  /**
   * Whether a record (latest shape) can be written at this older version without loss. Absent:
   * never, so a version that forgets to say is passed over rather than dropping a field; the
   * latest version holds every record.
   */
  readonly holds?: (record: unknown) => boolean
  /** Brings a body decoded at this version up to the latest shape (absent: it already is). */
  readonly upgrade?: (body: unknown) => unknown
}

/** Every version of a kind, from v0 up, each index the version number. */
type Versions = readonly [VersionCodec, ...VersionCodec[]]

const only = (schema: Parameters<typeof compileGuarded>[0]): Versions => [{ type: compileGuarded(schema) }]

/** Kind codes and versions: frozen once released. A partition change reuses the partition record (full state). */
const KINDS = {
  registerBroker: {
    code: 1,
    versions: [
      {
        type: compileGuarded(RegisterBrokerV0),
        holds: (r) => (r as RegisterBrokerRecord).kafkaPort === -1,
        upgrade: (b): RegisterBrokerRecord => ({ ...(b as Value<typeof RegisterBrokerV0>), kafkaPort: -1 }),
      },
      { type: compileGuarded(RegisterBrokerV1) },
    ],
  },
  brokerFencing: { code: 2, versions: only(BrokerFencingV0) },
  topic: { code: 3, versions: only(TopicV0) },
  partition: { code: 4, versions: only(PartitionV0) },
  removeTopic: { code: 5, versions: only(RemoveTopicV0) },
  cluster: { code: 6, versions: only(ClusterV0) },
  producerIds: { code: 7, versions: only(ProducerIdsV0) },
  scramCredential: { code: 8, versions: only(ScramCredentialV0) },
  removeScramCredential: { code: 9, versions: only(RemoveScramCredentialV0) },
  acl: { code: 10, versions: only(AclV0) },
  removeAcl: { code: 11, versions: only(RemoveAclV0) },
} as const satisfies Record<MetadataRecord['kind'], { code: number; versions: Versions }>

const ENVELOPE_BYTES = 3
const KIND_BY_CODE = new Map<number, MetadataRecord['kind']>(Object.entries(KINDS).map(([k, v]) => [v.code, k as MetadataRecord['kind']]))

/** The lowest version of `r`'s kind that holds it: older brokers read what needs nothing newer. */
function versionFor(r: MetadataRecord): number {
  const versions: Versions = KINDS[r.kind].versions
  const latest = versions.length - 1
  for (let v = 0; v < latest; v++) {
    if (versions[v]?.holds?.(r.record) === true) return v
  }
  return latest
}

export class MetadataRecordError extends Error {
  override readonly name = 'MetadataRecordError'
}

export function encodeMetadataRecord(r: MetadataRecord): Buffer {
  const version = versionFor(r)
  const body = (KINDS[r.kind].versions[version] as VersionCodec).type.toBuffer(r.record)
  const out = Buffer.allocUnsafe(ENVELOPE_BYTES + body.length)
  out.writeUInt16BE(KINDS[r.kind].code, 0)
  out.writeUInt8(version, 2)
  body.copy(out, ENVELOPE_BYTES)
  return out
}

export function decodeMetadataRecord(buf: Buffer): MetadataRecord {
  if (buf.length < ENVELOPE_BYTES) throw new MetadataRecordError(`A metadata record needs ${ENVELOPE_BYTES} bytes of envelope, got ${buf.length}.`)
  const kind = KIND_BY_CODE.get(buf.readUInt16BE(0))
  if (kind === undefined) throw new MetadataRecordError(`Unknown metadata record kind ${buf.readUInt16BE(0)}.`)
  const version = buf.readUInt8(2)
  const codec = (KINDS[kind].versions as Versions)[version]
  if (codec === undefined) throw new MetadataRecordError(`Unsupported version ${version} of metadata record "${kind}".`)
  let body: unknown
  try {
    body = codec.type.fromBuffer(buf.subarray(ENVELOPE_BYTES))
  } catch (err) {
    throw new MetadataRecordError(`Metadata record "${kind}" does not decode: ${(err as Error).message}`)
  }
  return { kind, record: codec.upgrade === undefined ? body : codec.upgrade(body) } as MetadataRecord
}

/**
 * One Raft entry holds one or more records, applied together (a topic and its partitions):
 *   count uint32 | (length uint32 | record)*
 */
export function encodeMetadataEntry(records: readonly MetadataRecord[]): Buffer {
  const parts = records.map(encodeMetadataRecord)
  const out = Buffer.allocUnsafe(4 + parts.reduce((n, p) => n + 4 + p.length, 0))
  out.writeUInt32BE(parts.length, 0)
  let pos = 4
  for (const p of parts) {
    out.writeUInt32BE(p.length, pos)
    p.copy(out, pos + 4)
    pos += 4 + p.length
  }
  return out
}

export function decodeMetadataEntry(buf: Buffer): MetadataRecord[] {
  if (buf.length < 4) throw new MetadataRecordError(`A metadata entry needs 4 bytes of count, got ${buf.length}.`)
  const count = buf.readUInt32BE(0)
  if (count > (buf.length - 4) / (4 + ENVELOPE_BYTES)) throw new MetadataRecordError(`Metadata entry claims ${count} records in ${buf.length} bytes.`)
  const records: MetadataRecord[] = []
  let pos = 4
  for (let i = 0; i < count; i++) {
    if (pos + 4 > buf.length) throw new MetadataRecordError('Metadata entry is truncated.')
    const length = buf.readUInt32BE(pos)
    if (pos + 4 + length > buf.length) throw new MetadataRecordError('Metadata entry is truncated.')
    records.push(decodeMetadataRecord(buf.subarray(pos + 4, pos + 4 + length)))
    pos += 4 + length
  }
  if (pos !== buf.length) throw new MetadataRecordError(`Metadata entry has ${buf.length - pos} trailing bytes.`)
  return records
}
