// ApiVersions (key 18): which APIs and versions the broker speaks. Also the body of the
// UNSUPPORTED_VERSION answer to any request the broker cannot parse the version of.

import { array, int, record, type Value } from '../avro.js'

export const ApiVersionsRequestV0 = record('ApiVersionsRequestV0', {})
export const ApiVersionsResponseV0 = record('ApiVersionsResponseV0', {
  errorCode: int,
  apiKeys: array(record('ApiVersionRange', { apiKey: int, minVersion: int, maxVersion: int })),
})

export type ApiVersionsRequest = Value<typeof ApiVersionsRequestV0>
export type ApiVersionsResponse = Value<typeof ApiVersionsResponseV0>
export const apiVersionsVersions = { 0: { request: ApiVersionsRequestV0, response: ApiVersionsResponseV0 } } as const
