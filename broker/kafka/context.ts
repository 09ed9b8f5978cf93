// What a Kafka-listener handler may use. Each handler (one file per API family in handlers/)
// turns a decoded Kafka request body (client/protocol/kafka/messages/) into the equivalent
// Strand request, serves it through the same authorization gate and handler the Strand listener
// uses (`serve`), and turns the Strand response back into the Kafka response body for the
// request's version. Handlers never reach into the broker's state directly: one code path per
// operation, whichever listener it came in on.

import type { ApiKeyValue, ApiTypes } from '../../client/protocol/apis.js'
import type { KafkaStruct } from '../../client/protocol/kafka/schema.js'
import type { Session } from '../security/session.js'
import type { HandlerContext } from '../server/handlers/context.js'
import type { RequestInfo } from '../server/dispatch.js'

/** Where a broker's Kafka listener is, as Metadata and FindCoordinator advertise it. */
export interface KafkaAddress {
  host: string
  port: number
}

export interface KafkaRequestContext {
  readonly ctx: HandlerContext
  /** The request's API version (the response is encoded at the same version). */
  readonly version: number
  readonly info: RequestInfo
  readonly session: Session
  /** A Strand request through the Strand listener's gate and handler; resolves with its response. */
  serve<K extends ApiKeyValue>(apiKey: K, body: ApiTypes[K]['request']): Promise<ApiTypes[K]['response']>
  /** Broker `nodeId`'s Kafka listener, or null when it has none (or is unknown). */
  kafkaAddress(nodeId: number): KafkaAddress | null
}

/**
 * Serves one Kafka request. Resolves with the response body (the fields of the API's response
 * at `req.version`; absent fields take their defaults), or null when the request gets no
 * response (Produce with acks=0).
 */
export type KafkaHandler = (req: KafkaRequestContext, body: KafkaStruct) => Promise<KafkaStruct | null>
