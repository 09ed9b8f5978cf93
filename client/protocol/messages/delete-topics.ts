// DeleteTopics (key 20).

import { array, int, nullable, record, string, type Value } from '../avro.js'

export const DeleteTopicsRequestV0 = record('DeleteTopicsRequestV0', { topicNames: array(string), timeoutMs: int })
export const DeleteTopicsResponseV0 = record('DeleteTopicsResponseV0', {
  responses: array(record('DeletableTopicResult', { name: string, errorCode: int, errorMessage: nullable(string) })),
})

export type DeleteTopicsRequest = Value<typeof DeleteTopicsRequestV0>
export type DeleteTopicsResponse = Value<typeof DeleteTopicsResponseV0>
export const deleteTopicsVersions = { 0: { request: DeleteTopicsRequestV0, response: DeleteTopicsResponseV0 } } as const
