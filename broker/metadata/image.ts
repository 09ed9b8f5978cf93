// The metadata image: brokers, topics and partitions as of the last applied committed record.
// Every broker builds the same image by applying the same committed records in the same order;
// `apply` is therefore deterministic and never consults anything but the image and the record.
//
// A record that does not fit the image (a partition of an unknown topic, a change against a stale
// partition epoch) is refused with MetadataImageError and changes nothing: the controller checks
// before proposing, so this only happens if two proposals raced, and every broker refuses the
// same record the same way.

import type { MetadataRecord, PartitionRecord } from './records.js'

export interface BrokerRegistration {
  brokerId: number
  host: string
  port: number
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

export class MetadataImage {
  readonly brokers = new Map<number, BrokerRegistration>()
  readonly topics = new Map<string, TopicImage>()
  /** Chosen by the first controller; null until that record commits. */
  clusterId: string | null = null
  /** Raft index of the last record applied (refused records count: they were decided too). */
  appliedIndex = 0

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

  #applyRecord(r: MetadataRecord): void {
    switch (r.kind) {
      case 'registerBroker': {
        // A new incarnation of a broker replaces the old registration and starts fenced until its
        // first heartbeat, as in KRaft.
        const { brokerId, host, port, incarnationId } = r.record
        this.brokers.set(brokerId, { brokerId, host, port, incarnationId, fenced: true })
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
        return this.#applyPartition(r.record)
      case 'cluster': {
        if (this.clusterId !== null) throw new MetadataImageError(`The cluster id is already ${this.clusterId}.`)
        this.clusterId = r.record.clusterId
        return
      }
      case 'removeTopic': {
        if (!this.topics.delete(r.record.name)) throw new MetadataImageError(`Removal of unknown topic "${r.record.name}".`)
        return
      }
    }
  }

  /** A new partition (epoch 0), or a change to one that must carry the next partition epoch. */
  #applyPartition(p: PartitionRecord): void {
    const topic = this.topics.get(p.topic)
    if (topic === undefined) throw new MetadataImageError(`Partition ${p.topic}-${p.partition} of an unknown topic.`)
    const current = topic.partitions[p.partition]
    if (current === undefined) {
      if (p.partition !== topic.partitions.length) throw new MetadataImageError(`Partition ${p.topic}-${p.partition} skips partition ${topic.partitions.length}.`)
      if (p.partitionEpoch !== 0) throw new MetadataImageError(`New partition ${p.topic}-${p.partition} must start at epoch 0, not ${p.partitionEpoch}.`)
    } else if (p.partitionEpoch !== current.partitionEpoch + 1) {
      throw new MetadataImageError(`Change to ${p.topic}-${p.partition} carries epoch ${p.partitionEpoch}; the next is ${current.partitionEpoch + 1}.`)
    }
    if (p.leader !== -1 && !p.isr.includes(p.leader)) throw new MetadataImageError(`Leader ${p.leader} of ${p.topic}-${p.partition} is not in its ISR.`)
    if (!p.isr.every((r) => p.replicas.includes(r))) throw new MetadataImageError(`ISR of ${p.topic}-${p.partition} is not a subset of its replicas.`)
    topic.partitions[p.partition] = { ...p, replicas: [...p.replicas], isr: [...p.isr] }
  }
}
