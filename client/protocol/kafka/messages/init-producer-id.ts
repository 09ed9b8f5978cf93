// InitProducerId (key 22) as Kafka's InitProducerIdRequest/Response.json declare it; we serve
// v0-4 (v5 only adds TRANSACTION_ABORTABLE, KIP-890). v3+ may carry the producer's current id
// and epoch, to have the epoch bumped instead of a new id (KIP-360).

import type { MessageSpec } from '../schema.js'

export const initProducerIdRequest: MessageSpec = {
  name: 'InitProducerIdRequest',
  apiKey: 22,
  type: 'request',
  validVersions: '0-4',
  flexibleVersions: '2+',
  fields: [
    { name: 'transactionalId', type: 'string', versions: '0+', nullableVersions: '0+' },
    { name: 'transactionTimeoutMs', type: 'int32', versions: '0+' },
    { name: 'producerId', type: 'int64', versions: '3+', default: -1n },
    { name: 'producerEpoch', type: 'int16', versions: '3+', default: -1 },
  ],
}

export const initProducerIdResponse: MessageSpec = {
  name: 'InitProducerIdResponse',
  apiKey: 22,
  type: 'response',
  validVersions: '0-4',
  flexibleVersions: '2+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '0+' },
    { name: 'errorCode', type: 'int16', versions: '0+' },
    { name: 'producerId', type: 'int64', versions: '0+', default: -1n },
    { name: 'producerEpoch', type: 'int16', versions: '0+' },
  ],
}
