// DeleteTopics (key 20) as Kafka's DeleteTopicsRequest/Response.json declare it; we serve v0-6.
// Up to v5 topics are named in `topicNames`; v6 names each in `topics` by name or by topic id
// (the broker answers by name only: Strand does not look topics up by id).

import type { MessageSpec } from '../schema.js'

export const deleteTopicsRequest: MessageSpec = {
  name: 'DeleteTopicsRequest',
  apiKey: 20,
  type: 'request',
  validVersions: '0-6',
  flexibleVersions: '4+',
  fields: [
    {
      name: 'topics',
      type: '[]DeleteTopicState',
      versions: '6+',
      fields: [
        { name: 'name', type: 'string', versions: '6+', nullableVersions: '6+', default: null },
        { name: 'topicId', type: 'uuid', versions: '6+' },
      ],
    },
    { name: 'topicNames', type: '[]string', versions: '0-5' },
    { name: 'timeoutMs', type: 'int32', versions: '0+' },
  ],
}

export const deleteTopicsResponse: MessageSpec = {
  name: 'DeleteTopicsResponse',
  apiKey: 20,
  type: 'response',
  validVersions: '0-6',
  flexibleVersions: '4+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    {
      name: 'responses',
      type: '[]DeletableTopicResult',
      versions: '0+',
      fields: [
        { name: 'name', type: 'string', versions: '0+', nullableVersions: '6+' },
        { name: 'topicId', type: 'uuid', versions: '6+' },
        { name: 'errorCode', type: 'int16', versions: '0+' },
        { name: 'errorMessage', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
      ],
    },
  ],
}
