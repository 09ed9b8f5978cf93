// DescribeConfigs (key 32, as Kafka's): the effective configuration of topics and brokers.
// `resourceType` is Kafka's ConfigResource type: 2 a topic (named by its name), 4 a broker (named
// by its node id; only that broker answers for itself, as in Kafka). For a topic every key is
// listed with its effective value; `isDefault` is false for the keys the topic overrides. Each
// resource succeeds or fails on its own (UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUEST...).

import { array, boolean, int, nullable, record, string, type Value } from '../avro.js'

/** Kafka's ConfigResource.Type codes. */
export const ConfigResourceType = { Topic: 2, Broker: 4 } as const

export const DescribeConfigsRequestV0 = record('DescribeConfigsRequestV0', {
  resources: array(record('DescribeConfigsResource', { resourceType: int, resourceName: string })),
})
export const DescribeConfigsResponseV0 = record('DescribeConfigsResponseV0', {
  throttleTimeMs: int,
  results: array(
    record('DescribeConfigsResult', {
      errorCode: int,
      errorMessage: nullable(string),
      resourceType: int,
      resourceName: string,
      configs: array(record('DescribeConfigsEntry', { name: string, value: nullable(string), isDefault: boolean })),
    }),
  ),
})

export type DescribeConfigsRequest = Value<typeof DescribeConfigsRequestV0>
export type DescribeConfigsResponse = Value<typeof DescribeConfigsResponseV0>
export const describeConfigsVersions = { 0: { request: DescribeConfigsRequestV0, response: DescribeConfigsResponseV0 } } as const
