// ApiVersions (18), transcribed from Kafka's ApiVersionsRequest/Response.json: which API keys and
// version ranges the broker speaks, the first request a Kafka client sends. We speak v0-3 (v3 is
// flexible: client software name and version, and four tagged response fields); Kafka's v4
// (KAFKA-17011) is not supported. A request at a version we do not speak is answered in v0 with
// UNSUPPORTED_VERSION and our ApiVersions range in apiKeys (KIP-511), so the client can retry.

import type { MessageSpec } from '../schema.js'

export const apiVersionsRequest: MessageSpec = {
  name: 'ApiVersionsRequest',
  apiKey: 18,
  type: 'request',
  validVersions: '0-3',
  flexibleVersions: '3+',
  fields: [
    { name: 'clientSoftwareName', type: 'string', versions: '3+' },
    { name: 'clientSoftwareVersion', type: 'string', versions: '3+' },
  ],
}

export const apiVersionsResponse: MessageSpec = {
  name: 'ApiVersionsResponse',
  apiKey: 18,
  type: 'response',
  validVersions: '0-3',
  flexibleVersions: '3+',
  fields: [
    { name: 'errorCode', type: 'int16', versions: '0+' },
    {
      name: 'apiKeys',
      type: '[]ApiVersion',
      versions: '0+',
      fields: [
        { name: 'apiKey', type: 'int16', versions: '0+' },
        { name: 'minVersion', type: 'int16', versions: '0+' },
        { name: 'maxVersion', type: 'int16', versions: '0+' },
      ],
    },
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    {
      name: 'supportedFeatures',
      type: '[]SupportedFeatureKey',
      versions: '3+',
      tag: 0,
      taggedVersions: '3+',
      fields: [
        { name: 'name', type: 'string', versions: '3+' },
        { name: 'minVersion', type: 'int16', versions: '3+' },
        { name: 'maxVersion', type: 'int16', versions: '3+' },
      ],
    },
    { name: 'finalizedFeaturesEpoch', type: 'int64', versions: '3+', tag: 1, taggedVersions: '3+', default: -1n },
    {
      name: 'finalizedFeatures',
      type: '[]FinalizedFeatureKey',
      versions: '3+',
      tag: 2,
      taggedVersions: '3+',
      fields: [
        { name: 'name', type: 'string', versions: '3+' },
        { name: 'maxVersionLevel', type: 'int16', versions: '3+' },
        { name: 'minVersionLevel', type: 'int16', versions: '3+' },
      ],
    },
    { name: 'zkMigrationReady', type: 'bool', versions: '3+', taggedVersions: '3+', tag: 3, default: false },
  ],
}
