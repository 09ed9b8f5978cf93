// CreateTopics (key 19). numPartitions / replicationFactor -1 take the broker's defaults.

import { array, boolean, int, nullable, record, string, type Value } from '../avro.js'

export const CreateTopicsRequestV0 = record('CreateTopicsRequestV0', {
  topics: array(
    record('CreatableTopic', {
      name: string,
      numPartitions: int,
      replicationFactor: int,
      configs: array(record('CreatableTopicConfig', { name: string, value: nullable(string) })),
    }),
  ),
  timeoutMs: int,
  validateOnly: boolean,
})
export const CreateTopicsResponseV0 = record('CreateTopicsResponseV0', {
  topics: array(
    record('CreatableTopicResult', {
      name: string,
      errorCode: int,
      errorMessage: nullable(string),
      numPartitions: int,
      replicationFactor: int,
    }),
  ),
})

export type CreateTopicsRequest = Value<typeof CreateTopicsRequestV0>
export type CreateTopicsResponse = Value<typeof CreateTopicsResponseV0>
export const createTopicsVersions = { 0: { request: CreateTopicsRequestV0, response: CreateTopicsResponseV0 } } as const
