// Start-up phase 5, the listeners: the Strand listener, the optional Kafka-protocol listener
// (broker/kafka/) and the optional metrics endpoint. startBroker (broker/broker.ts) opens them
// last, once every collaborator the handlers use exists, so the first request a port accepts is
// served like any later one; and a stop begins by closing them to new work.
//
// Each port the OS chose (port 0) is written into `advertised` as soon as it is bound, before
// the next listener opens: a request on the Strand listener may already read it (Metadata).

import type { Logger } from 'pino'
import { FrameDecoder } from '../../client/protocol/frame.js'
import { apiName } from '../../client/protocol/apis.js'
import type { BrokerConfig } from '../config.js'
import { startKafkaListener } from '../kafka/listener.js'
import type { MetadataImage } from '../metadata/image.js'
import { serveMetrics, type MetricsEndpoint } from '../metrics/http.js'
import type { Metrics } from '../metrics/metrics.js'
import { serverTlsOptions } from '../security/tls.js'
import { createDispatcher, type RequestMetrics } from '../server/dispatch.js'
import type { HandlerContext } from '../server/handlers/context.js'
import { Server } from '../server/server.js'

/** Where this broker is reached, as it registers itself and answers Metadata. */
export interface Advertised {
  host: string
  /** The Strand listener's port: config.port until bound, then the bound one. */
  port: number
  /** The Kafka listener's port, or -1 without one. */
  kafkaPort: number
}

export interface Listeners {
  /** The Strand listener's bound address. */
  readonly host: string
  readonly port: number
  /** The Kafka listener's port, or null when `kafka.listener.port` is -1. */
  readonly kafkaPort: number | null
  /** The metrics endpoint's port, or null when `metrics.port` is -1. */
  readonly metricsPort: number | null
  /**
   * The first half of a stop: no new connections or requests on either listener, the metrics
   * endpoint closed. Requests in flight carry on; close() waits for them.
   */
  stopAccepting(): Promise<void>
  /** Answers what is in flight (bounded: server.ts) and closes every connection. */
  close(): Promise<void>
}

export interface ListenersOptions {
  config: BrokerConfig
  /** Filled in with the ports the OS chose. */
  advertised: Advertised
  /** Where other brokers' Kafka listeners are, for the Kafka listener's Metadata. */
  image: MetadataImage
  metrics: Metrics
  logger: Logger
}

export async function openListeners(ctx: HandlerContext, options: ListenersOptions): Promise<Listeners> {
  const { config, advertised, logger } = options
  const observe = requestMetrics(options.metrics)
  const servers: Server[] = []
  let metricsEndpoint: MetricsEndpoint | null = null
  const stopAccepting = async (): Promise<void> => {
    for (const s of servers) s.stopAccepting()
    const endpoint = metricsEndpoint
    metricsEndpoint = null
    await endpoint?.close()
  }
  const close = async (): Promise<void> => {
    await stopAccepting()
    await Promise.all(servers.map((s) => s.close()))
  }
  try {
    const strand = strandServer(ctx, config, observe, logger.child({ subsystem: 'server' }))
    servers.push(strand)
    const bound = await strand.listen()
    advertised.port = bound.port
    if (config.kafkaListenerPort >= 0) {
      const kafka = await startKafkaListener({ ctx, config, port: config.kafkaListenerPort, saslRequired: ctx.sasl.enabled, image: options.image, logger: logger.child({ subsystem: 'kafka-listener' }), metrics: observe })
      servers.push(kafka.server)
      advertised.kafkaPort = kafka.port
    }
    if (config.metricsPort >= 0) metricsEndpoint = await serveMetrics(options.metrics, { host: config.host, port: config.metricsPort, logger })
    return {
      host: bound.host,
      port: bound.port,
      kafkaPort: config.kafkaListenerPort >= 0 ? advertised.kafkaPort : null,
      metricsPort: metricsEndpoint?.port ?? null,
      stopAccepting,
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}

function strandServer(ctx: HandlerContext, config: BrokerConfig, observe: RequestMetrics, logger: Logger): Server {
  return new Server({
    host: config.host,
    port: config.port,
    maxConnections: config.maxConnections,
    inflightRequestsMax: config.inflightRequestsMax,
    idleTimeoutMs: config.connectionsMaxIdleMs,
    requestReadTimeoutMs: config.requestReadTimeoutMs,
    logger,
    frameBytesMax: config.maxRequestBytes,
    tls: serverTlsOptions(config),
    saslRequired: ctx.sasl.enabled,
    saslAuthenticationTimeoutMs: config.saslAuthenticationTimeoutMs,
    newDecoder: (frameBytesMax) => new FrameDecoder({ frameBytesMax }),
    handle: createDispatcher(ctx, observe),
  })
}

/** Request counts and latencies per API, for both listeners' dispatchers. */
function requestMetrics(metrics: Metrics): RequestMetrics {
  return {
    observe(apiKey, latencyMs) {
      const api = apiName(apiKey)
      metrics.inc('strand_requests_total', 'Requests answered, by API.', { api })
      metrics.observe('strand_request_latency_ms', 'Milliseconds from a request\'s arrival to its response, by API.', { api }, latencyMs)
    },
  }
}
