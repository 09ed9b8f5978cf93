// The Kafka listener's frames to responses: read Kafka's request header, decode the body with the
// API's schema (client/protocol/kafka/messages/), run its handler (handlers/), encode the
// response at the request's version.
//
// Errors are answered as Kafka answers them, since clients depend on it:
//   - ApiVersions at a version this broker does not speak: an ApiVersions v0 response with
//     UNSUPPORTED_VERSION and the supported ranges, so the client retries at a version both speak.
//   - Any other API or version not advertised, or a body that does not decode: the connection
//     closes (Kafka's broker cannot parse it either, and does the same). Clients only send what
//     ApiVersions advertised.
//   - On a listener that requires SASL, anything but ApiVersions / SaslHandshake / SaslAuthenticate
//     before authentication closes the connection.
// A handler's per-partition failures are error codes in its response; a handler that throws (a
// bug) closes the connection and is logged, and the broker carries on.

import { StrandProtocolError } from '../../client/protocol/errors.js'
import { kafkaResponseHeader, KAFKA_API_VERSIONS_KEY, readKafkaRequestHeader, readKafkaRequestPrefix } from '../../client/protocol/kafka/frame.js'
import { inVersions, KafkaWriter, messageCodec, parseVersions, type KafkaStruct, type MessageSpec } from '../../client/protocol/kafka/schema.js'
import { SIZE_PREFIX_BYTES } from '../../client/protocol/frame.js'
import { ApiKey, type ApiKeyValue, type ApiTypes } from '../../client/protocol/apis.js'
import type { Session } from '../security/session.js'
import { serveRequest, type RequestMetrics } from '../server/dispatch.js'
import type { HandlerContext } from '../server/handlers/context.js'
import type { KafkaAddress, KafkaHandler, KafkaRequestContext } from './context.js'

export interface KafkaApi {
  readonly request: MessageSpec
  readonly response: MessageSpec
  readonly handler: KafkaHandler
}

export interface KafkaVersionRange {
  apiKey: number
  minVersion: number
  maxVersion: number
}

/** APIs a session may send before it has authenticated. */
const PRE_AUTH_APIS: ReadonlySet<number> = new Set([ApiKey.ApiVersions, ApiKey.SaslHandshake, ApiKey.SaslAuthenticate])
const UNSUPPORTED_VERSION_CODE = 35

/** The advertised version ranges of a table of APIs, in key order. */
export function kafkaVersionRanges(apis: ReadonlyMap<number, KafkaApi>): KafkaVersionRange[] {
  return [...apis.entries()]
    .sort(([a], [b]) => a - b)
    .map(([apiKey, api]) => {
      const r = parseVersions(api.request.validVersions)
      if (r === null || r.max === Infinity) throw new Error(`${api.request.name} must declare a closed version range.`)
      return { apiKey, minVersion: r.min, maxVersion: r.max }
    })
}

/** A response frame: size prefix, header, body chunks. */
function responseFrame(spec: MessageSpec, version: number, correlationId: number, body: KafkaStruct): Buffer[] {
  const codec = messageCodec(spec, version)
  const w = new KafkaWriter()
  codec.encode(w, body)
  const chunks = w.chunks()
  // ApiVersions answers in header v0 at every version (KIP-511), so any client can read it.
  const header = kafkaResponseHeader(correlationId, codec.flexible && spec.apiKey !== KAFKA_API_VERSIONS_KEY)
  const prefix = Buffer.allocUnsafe(SIZE_PREFIX_BYTES + header.length)
  prefix.writeInt32BE(header.length + w.length, 0)
  header.copy(prefix, SIZE_PREFIX_BYTES)
  return [prefix, ...chunks]
}

export interface KafkaDispatcherOptions {
  ctx: HandlerContext
  apis: ReadonlyMap<number, KafkaApi>
  kafkaAddress: (nodeId: number) => KafkaAddress | null
  metrics?: RequestMetrics
}

export function createKafkaDispatcher(options: KafkaDispatcherOptions): (frame: Buffer, session: Session) => Promise<Buffer[] | null> {
  const { ctx, apis, kafkaAddress, metrics } = options
  const apiVersions = apis.get(KAFKA_API_VERSIONS_KEY)
  if (apiVersions === undefined) throw new Error('The Kafka API table must include ApiVersions.')
  return async (frame, session) => {
    const started = performance.now()
    if (session.closeAfterResponse) return null
    const prefix = readKafkaRequestPrefix(frame)
    const api = apis.get(prefix.apiKey)
    if (api === undefined || !inVersions(api.request.validVersions, prefix.apiVersion)) {
      if (prefix.apiKey === KAFKA_API_VERSIONS_KEY) {
        return responseFrame(apiVersions.response, 0, prefix.correlationId, { errorCode: UNSUPPORTED_VERSION_CODE, apiKeys: kafkaVersionRanges(apis) })
      }
      throw new StrandProtocolError('UNSUPPORTED_VERSION', `Kafka API ${prefix.apiKey} v${prefix.apiVersion} is not supported on this listener.`)
    }
    if (!session.authenticated && !PRE_AUTH_APIS.has(prefix.apiKey)) {
      throw new StrandProtocolError('ILLEGAL_SASL_STATE', `Kafka API ${prefix.apiKey} from ${session.peer} before SASL authentication.`)
    }
    const codec = messageCodec(api.request, prefix.apiVersion)
    const { header, bodyOffset } = readKafkaRequestHeader(frame, codec.flexible)
    const body = codec.decode(frame, bodyOffset)
    const info = { clientId: header.clientId ?? '', clientHost: session.peer }
    const req: KafkaRequestContext = {
      ctx,
      version: header.apiVersion,
      info,
      session,
      serve: <K extends ApiKeyValue>(apiKey: K, strandBody: ApiTypes[K]['request']) => serveRequest(ctx, apiKey, strandBody, info, session) as Promise<ApiTypes[K]['response']>,
      kafkaAddress,
    }
    const response = await api.handler(req, body)
    metrics?.observe(prefix.apiKey, performance.now() - started)
    if (response === null) return null
    return responseFrame(api.response, header.apiVersion, header.correlationId, response)
  }
}
