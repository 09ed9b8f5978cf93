// The optional Kafka-protocol listener (kafka.listener.port): the same Server and Connection as
// the Strand listener (frames, pipelining in order, backpressure, limits, TLS, SASL), with the
// Kafka dispatcher in place of Strand's. It binds the Strand listener's host and shares its
// security settings; what it serves goes through the same handlers and permission checks.
// startBroker opens it (broker/startup/listeners.ts) once every collaborator of those handlers
// exists, so its first request is served like any later one.

import type { Logger } from 'pino'
import { FrameDecoder } from '../../client/protocol/frame.js'
import type { BrokerConfig } from '../config.js'
import type { MetadataImage } from '../metadata/image.js'
import { serverTlsOptions } from '../security/tls.js'
import type { RequestMetrics } from '../server/dispatch.js'
import type { HandlerContext } from '../server/handlers/context.js'
import { Server } from '../server/server.js'
import { KAFKA_APIS } from './apis.js'
import type { KafkaAddress } from './context.js'
import { createKafkaDispatcher } from './dispatch.js'

export interface KafkaListenerOptions {
  ctx: HandlerContext
  config: BrokerConfig
  port: number
  saslRequired: boolean
  /** The metadata image: where other brokers' Kafka listeners are. */
  image: MetadataImage
  logger: Logger
  metrics?: RequestMetrics
}

/** Broker `nodeId`'s Kafka listener as the image registers it; null without one. */
export function kafkaAddressOf(image: MetadataImage, nodeId: number): KafkaAddress | null {
  const b = image.brokers.get(nodeId)
  if (b === undefined || b.kafkaPort < 0) return null
  return { host: b.host, port: b.kafkaPort }
}

export async function startKafkaListener(options: KafkaListenerOptions): Promise<{ server: Server; port: number }> {
  const { ctx, config } = options
  const server = new Server({
    host: config.host,
    port: options.port,
    maxConnections: config.maxConnections,
    inflightRequestsMax: config.inflightRequestsMax,
    idleTimeoutMs: config.connectionsMaxIdleMs,
    requestReadTimeoutMs: config.requestReadTimeoutMs,
    logger: options.logger,
    frameBytesMax: config.maxRequestBytes,
    tls: serverTlsOptions(config),
    saslRequired: options.saslRequired,
    saslAuthenticationTimeoutMs: config.saslAuthenticationTimeoutMs,
    newDecoder: (frameBytesMax) => new FrameDecoder({ frameBytesMax }),
    handle: createKafkaDispatcher({
      ctx,
      apis: KAFKA_APIS,
      kafkaAddress: (nodeId) => kafkaAddressOf(options.image, nodeId),
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    }),
  })
  const bound = await server.listen()
  return { server, port: bound.port }
}
