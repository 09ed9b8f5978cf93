// Metadata (key 3): brokers, and each topic's partitions with leader, replicas and ISR.
// `topics: null` asks for every topic.

import { array, boolean, int, nullable, record, string, type Value } from '../avro.js'

export const MetadataRequestV0 = record('MetadataRequestV0', { topics: nullable(array(string)) })
export const MetadataResponseV0 = record('MetadataResponseV0', {
  brokers: array(record('MetadataBroker', { nodeId: int, host: string, port: int })),
  clusterId: string,
  controllerId: int,
  topics: array(
    record('MetadataTopic', {
      errorCode: int,
      name: string,
      internal: boolean,
      partitions: array(
        record('MetadataPartition', {
          errorCode: int,
          partitionIndex: int,
          leaderId: int,
          leaderEpoch: int,
          replicaNodes: array(int),
          isrNodes: array(int),
          offlineReplicas: array(int),
        }),
      ),
    }),
  ),
})

export type MetadataRequest = Value<typeof MetadataRequestV0>
export type MetadataResponse = Value<typeof MetadataResponseV0>
export const metadataVersions = { 0: { request: MetadataRequestV0, response: MetadataResponseV0 } } as const
