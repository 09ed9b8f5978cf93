// The metadata image: brokers, topics and partitions as of the last applied committed record.
// Every broker builds the same image by applying the same committed records in the same order;
// `apply` is therefore deterministic and never consults anything but the image and the record.
//
// A record that does not fit the image (a partition of an unknown topic, a change against a stale
// partition epoch) is refused with MetadataImageError and changes nothing: the controller checks
// before proposing, so this only happens if two proposals raced, and every broker refuses the
// same record the same way.
//
// A snapshot of the image is the list of records that rebuilds it (`toRecords`, `fromRecords`):
// the cluster id, each broker's registration and fencing, each topic and its partitions' current
// state, as Kafka's KRaft snapshots do.

import { OPERATIONS, PATTERN_TYPES, PERMISSIONS, RESOURCE_TYPES, type Acl, type AclSource } from '../security/authorizer.js'
import type { AclRecord, MetadataRecord, PartitionRecord, ScramCredentialRecord } from './records.js'

export interface BrokerRegistration {
  brokerId: number
  /** Its advertised host: the Strand listener's and, when it has one, the Kafka listener's. */
  host: string
  /** The Strand listener's port. */
  port: number
  /** The Kafka wire listener's port at `host`; -1 when the broker has none (or registered at v0). */
  kafkaPort: number
  incarnationId: string
  fenced: boolean
}

export interface TopicImage {
  name: string
  topicId: string
  configs: Record<string, string>
  /** Indexed by partition number; filled in by partition records. */
  partitions: PartitionRecord[]
}

export class MetadataImageError extends Error {
  override readonly name = 'MetadataImageError'
}

/** An ACL record as the authorizer reads it; null when a field holds a name this build does not know. */
function aclOf(r: AclRecord): Acl | null {
  const known = (RESOURCE_TYPES as readonly string[]).includes(r.resourceType) && (PATTERN_TYPES as readonly string[]).includes(r.patternType) &&
    (OPERATIONS as readonly string[]).includes(r.operation) && (PERMISSIONS as readonly string[]).includes(r.permission)
  return known ? (r as Acl & { id: string }) : null
}

/**
 * The ACLs this build can read. One it cannot is skipped: the controller refuses unknown names, so
 * such a record can only come from a newer broker.
 */
function* readableAcls(records: Iterable<AclRecord>): Generator<Acl> {
  for (const r of records) {
    const acl = aclOf(r)
    if (acl !== null) yield acl
  }
}

export class MetadataImage implements AclSource {
  readonly brokers = new Map<number, BrokerRegistration>()
  /** SCRAM credentials by user name, then mechanism. */
  readonly scramCredentials = new Map<string, Map<string, ScramCredentialRecord>>()
  /** ACLs by id. */
  readonly aclRecords = new Map<string, AclRecord>()
  /** Bumped by every ACL change, so the authorizer knows when its cached decisions are stale. */
  aclVersion = 0
  readonly topics = new Map<string, TopicImage>()
  /** Chosen by the first controller; null until that record commits. */
  clusterId: string | null = null
  /** Raft index of the last record applied (refused records count: they were decided too). */
  appliedIndex = 0
  /** Producer ids below it were handed out (to brokers, in blocks). */
  nextProducerId = 0n

  acls(): Iterable<Acl> {
    return readableAcls(this.aclRecords.values())
  }

  /**
   * The image rebuilt from a snapshot's records, as of `appliedIndex`. A partition record there
   * carries the partition's current state (any epoch), not a change; a record that does not fit
   * fails the whole load (MetadataImageError), since a snapshot is committed state and must load
   * entirely or not at all.
   */
  static fromRecords(records: readonly MetadataRecord[], appliedIndex: number): MetadataImage {
    const image = new MetadataImage()
    for (const [i, r] of records.entries()) {
      try {
        image.#applyRecord(r, { loading: true })
      } catch (err) {
        if (!(err instanceof MetadataImageError)) throw err
        throw new MetadataImageError(`Snapshot record ${i} (${r.kind}) does not load: ${err.message}`)
      }
    }
    image.appliedIndex = appliedIndex
    return image
  }

  /** Records that rebuild this image with `fromRecords` (a snapshot's content). */
  toRecords(): MetadataRecord[] {
    const records: MetadataRecord[] = []
    if (this.clusterId !== null) records.push({ kind: 'cluster', record: { clusterId: this.clusterId } })
    if (this.nextProducerId > 0n) records.push({ kind: 'producerIds', record: { brokerId: -1, nextProducerId: this.nextProducerId } })
    for (const b of this.brokers.values()) {
      records.push({ kind: 'registerBroker', record: { brokerId: b.brokerId, host: b.host, port: b.port, incarnationId: b.incarnationId, kafkaPort: b.kafkaPort } })
      // A registration loads fenced; only an unfenced broker needs its fencing record.
      if (!b.fenced) records.push({ kind: 'brokerFencing', record: { brokerId: b.brokerId, fenced: false } })
    }
    for (const byMechanism of this.scramCredentials.values()) for (const c of byMechanism.values()) records.push({ kind: 'scramCredential', record: { ...c } })
    for (const a of this.aclRecords.values()) records.push({ kind: 'acl', record: { ...a } })
    for (const topic of this.topics.values()) {
      const configs = Object.entries(topic.configs).map(([key, value]) => ({ key, value }))
      records.push({ kind: 'topic', record: { name: topic.name, topicId: topic.topicId, configs } })
      for (const p of topic.partitions) records.push({ kind: 'partition', record: { ...p, replicas: [...p.replicas], isr: [...p.isr] } })
    }
    return records
  }

  /**
   * Takes over `other`'s contents (a snapshot installed from the leader). In place, because the
   * replica manager and the controller hold this object.
   */
  replaceWith(other: MetadataImage): void {
    this.brokers.clear()
    for (const [id, b] of other.brokers) this.brokers.set(id, { ...b })
    this.topics.clear()
    for (const [name, t] of other.topics) this.topics.set(name, { ...t, configs: { ...t.configs }, partitions: t.partitions.map((p) => ({ ...p, replicas: [...p.replicas], isr: [...p.isr] })) })
    this.scramCredentials.clear()
    for (const [name, m] of other.scramCredentials) this.scramCredentials.set(name, new Map(m))
    this.aclRecords.clear()
    for (const [id, a] of other.aclRecords) this.aclRecords.set(id, { ...a })
    this.aclVersion++
    this.clusterId = other.clusterId
    this.nextProducerId = other.nextProducerId
    this.appliedIndex = other.appliedIndex
  }

  apply(index: number, r: MetadataRecord): void {
    const [refused] = this.applyEntry(index, [r])
    if (refused !== undefined) throw refused
  }

  /**
   * Applies the records of one committed entry in order; each record that does not fit is
   * refused on its own (returned), the others still apply.
   */
  applyEntry(index: number, records: readonly MetadataRecord[]): MetadataImageError[] {
    if (index <= this.appliedIndex) throw new MetadataImageError(`Record ${index} is at or before the applied index ${this.appliedIndex}.`)
    this.appliedIndex = index
    const refused: MetadataImageError[] = []
    for (const r of records) {
      try {
        this.#applyRecord(r)
      } catch (err) {
        if (!(err instanceof MetadataImageError)) throw err
        refused.push(err)
      }
    }
    return refused
  }

  #applyRecord(r: MetadataRecord, options: { loading: boolean } = { loading: false }): void {
    switch (r.kind) {
      case 'registerBroker': {
        // A new incarnation of a broker replaces the old registration and starts fenced until its
        // first heartbeat, as in KRaft.
        const { brokerId, host, port, kafkaPort, incarnationId } = r.record
        this.brokers.set(brokerId, { brokerId, host, port, kafkaPort, incarnationId, fenced: true })
        return
      }
      case 'brokerFencing': {
        const b = this.brokers.get(r.record.brokerId)
        if (b === undefined) throw new MetadataImageError(`Fencing of unregistered broker ${r.record.brokerId}.`)
        b.fenced = r.record.fenced
        return
      }
      case 'topic': {
        if (this.topics.has(r.record.name)) throw new MetadataImageError(`Topic "${r.record.name}" already exists.`)
        this.topics.set(r.record.name, { name: r.record.name, topicId: r.record.topicId, configs: Object.fromEntries(r.record.configs.map((c) => [c.key, c.value])), partitions: [] })
        return
      }
      case 'partition':
        return this.#applyPartition(r.record, options)
      case 'producerIds': {
        if (r.record.nextProducerId <= this.nextProducerId) throw new MetadataImageError(`Producer ids up to ${this.nextProducerId} are already taken; a block ending at ${r.record.nextProducerId} is stale.`)
        this.nextProducerId = r.record.nextProducerId
        return
      }
      case 'cluster': {
        if (this.clusterId !== null) throw new MetadataImageError(`The cluster id is already ${this.clusterId}.`)
        this.clusterId = r.record.clusterId
        return
      }
      case 'scramCredential': {
        let byMechanism = this.scramCredentials.get(r.record.name)
        if (byMechanism === undefined) this.scramCredentials.set(r.record.name, (byMechanism = new Map()))
        byMechanism.set(r.record.mechanism, { ...r.record })
        return
      }
      case 'removeScramCredential': {
        const byMechanism = this.scramCredentials.get(r.record.name)
        if (byMechanism === undefined || !byMechanism.delete(r.record.mechanism)) throw new MetadataImageError(`Removal of unknown ${r.record.mechanism} credential of "${r.record.name}".`)
        if (byMechanism.size === 0) this.scramCredentials.delete(r.record.name)
        return
      }
      case 'acl': {
        if (this.aclRecords.has(r.record.id)) throw new MetadataImageError(`ACL ${r.record.id} already exists.`)
        this.aclRecords.set(r.record.id, { ...r.record })
        this.aclVersion++
        return
      }
      case 'removeAcl': {
        if (!this.aclRecords.delete(r.record.id)) throw new MetadataImageError(`Removal of unknown ACL ${r.record.id}.`)
        this.aclVersion++
        return
      }
      case 'removeTopic': {
        if (!this.topics.delete(r.record.name)) throw new MetadataImageError(`Removal of unknown topic "${r.record.name}".`)
        return
      }
    }
  }

  /**
   * A new partition (epoch 0), or a change to one that must carry the next partition epoch. When
   * loading a snapshot, a new partition comes with whatever epoch it had reached.
   */
  #applyPartition(p: PartitionRecord, options: { loading: boolean }): void {
    const topic = this.topics.get(p.topic)
    if (topic === undefined) throw new MetadataImageError(`Partition ${p.topic}-${p.partition} of an unknown topic.`)
    const current = topic.partitions[p.partition]
    if (current === undefined) {
      if (p.partition !== topic.partitions.length) throw new MetadataImageError(`Partition ${p.topic}-${p.partition} skips partition ${topic.partitions.length}.`)
      if (p.partitionEpoch !== 0 && !options.loading) throw new MetadataImageError(`New partition ${p.topic}-${p.partition} must start at epoch 0, not ${p.partitionEpoch}.`)
    } else if (p.partitionEpoch !== current.partitionEpoch + 1) {
      throw new MetadataImageError(`Change to ${p.topic}-${p.partition} carries epoch ${p.partitionEpoch}; the next is ${current.partitionEpoch + 1}.`)
    }
    if (p.leader !== -1 && !p.isr.includes(p.leader)) throw new MetadataImageError(`Leader ${p.leader} of ${p.topic}-${p.partition} is not in its ISR.`)
    if (!p.isr.every((r) => p.replicas.includes(r))) throw new MetadataImageError(`ISR of ${p.topic}-${p.partition} is not a subset of its replicas.`)
    topic.partitions[p.partition] = { ...p, replicas: [...p.replicas], isr: [...p.isr] }
  }
}
