// Metadata records: what the quorum's log holds, one record per Raft entry. Each is an Avro
// record (compiled with the protocol's avsc helpers) behind a 3-byte envelope:
//
//   kind uint16 | version uint8 | Avro body
//
// A kind and a released version never change meaning; a new field means a new version. The
// controller validates a change before proposing it; replaying committed records is then
// deterministic on every broker (image.ts).

import type avro from 'avsc'
import { array, boolean, bytes, compileGuarded, int, long, nullable, record, string, type Value } from '../../client/protocol/avro.js'

const RegisterBrokerV0 = record('RegisterBrokerRecordV0', { brokerId: int, host: string, port: int, incarnationId: string })
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

export type RegisterBrokerRecord = Value<typeof RegisterBrokerV0>
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

/** Kind codes: frozen once released. A partition change reuses the partition record (full state). */
const KINDS = {
  registerBroker: { code: 1, type: compileGuarded(RegisterBrokerV0) },
  brokerFencing: { code: 2, type: compileGuarded(BrokerFencingV0) },
  topic: { code: 3, type: compileGuarded(TopicV0) },
  partition: { code: 4, type: compileGuarded(PartitionV0) },
  removeTopic: { code: 5, type: compileGuarded(RemoveTopicV0) },
  cluster: { code: 6, type: compileGuarded(ClusterV0) },
  producerIds: { code: 7, type: compileGuarded(ProducerIdsV0) },
  scramCredential: { code: 8, type: compileGuarded(ScramCredentialV0) },
  removeScramCredential: { code: 9, type: compileGuarded(RemoveScramCredentialV0) },
  acl: { code: 10, type: compileGuarded(AclV0) },
  removeAcl: { code: 11, type: compileGuarded(RemoveAclV0) },
} as const satisfies Record<MetadataRecord['kind'], { code: number; type: avro.Type }>

const VERSION = 0
const ENVELOPE_BYTES = 3
const KIND_BY_CODE = new Map<number, MetadataRecord['kind']>(Object.entries(KINDS).map(([k, v]) => [v.code, k as MetadataRecord['kind']]))

export class MetadataRecordError extends Error {
  override readonly name = 'MetadataRecordError'
}

export function encodeMetadataRecord(r: MetadataRecord): Buffer {
  const body = KINDS[r.kind].type.toBuffer(r.record)
  const out = Buffer.allocUnsafe(ENVELOPE_BYTES + body.length)
  out.writeUInt16BE(KINDS[r.kind].code, 0)
  out.writeUInt8(VERSION, 2)
  body.copy(out, ENVELOPE_BYTES)
  return out
}

export function decodeMetadataRecord(buf: Buffer): MetadataRecord {
  if (buf.length < ENVELOPE_BYTES) throw new MetadataRecordError(`A metadata record needs ${ENVELOPE_BYTES} bytes of envelope, got ${buf.length}.`)
  const kind = KIND_BY_CODE.get(buf.readUInt16BE(0))
  if (kind === undefined) throw new MetadataRecordError(`Unknown metadata record kind ${buf.readUInt16BE(0)}.`)
  const version = buf.readUInt8(2)
  if (version !== VERSION) throw new MetadataRecordError(`Unsupported version ${version} of metadata record "${kind}".`)
  try {
    return { kind, record: KINDS[kind].type.fromBuffer(buf.subarray(ENVELOPE_BYTES)) } as MetadataRecord
  } catch (err) {
    throw new MetadataRecordError(`Metadata record "${kind}" does not decode: ${(err as Error).message}`)
  }
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
