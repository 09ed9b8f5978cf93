// SaslHandshake and SaslAuthenticate on the Kafka listener: the same SASL server (and so the same
// mechanisms, credentials and failure delay) as the Strand listener's.
//
// SaslHandshake v0 means the SASL tokens that follow travel as raw frames, outside any request
// (before KIP-152); this listener speaks only framed SaslAuthenticate, so a v0 handshake is
// answered ILLEGAL_SASL_STATE (with the mechanisms), and a raw token sent anyway closes the
// connection. Every current client sends v1.

import { ApiKey } from '../../../client/protocol/apis.js'
import { errorCodeOf } from '../../../client/protocol/errors.js'
import type { KafkaHandler } from '../context.js'

export const kafkaSaslHandshake: KafkaHandler = async (req, body) => {
  if (req.version === 0) {
    // No mechanism is started: asking for none only lists the offered ones.
    const offered = await req.serve(ApiKey.SaslHandshake, { mechanism: '' })
    return { errorCode: errorCodeOf('ILLEGAL_SASL_STATE'), mechanisms: offered.mechanisms }
  }
  const served = await req.serve(ApiKey.SaslHandshake, { mechanism: body.mechanism as string })
  return { errorCode: served.errorCode, mechanisms: served.mechanisms }
}

export const kafkaSaslAuthenticate: KafkaHandler = async (req, body) => {
  const served = await req.serve(ApiKey.SaslAuthenticate, { authBytes: body.authBytes as Buffer })
  return { errorCode: served.errorCode, errorMessage: served.errorMessage, authBytes: served.authBytes, sessionLifetimeMs: served.sessionLifetimeMs }
}
