// SaslHandshake (17) and SaslAuthenticate (36), transcribed from Kafka's SaslHandshake* and
// SaslAuthenticate*.json: the client names a mechanism, then the SASL exchange (PLAIN, SCRAM) runs
// in SaslAuthenticate requests. We speak SaslHandshake v0-1 (never flexible) and SaslAuthenticate
// v0-2 (v2 is flexible). After a v0 handshake the SASL tokens go as raw int32-length frames, not
// in SaslAuthenticate; v1 is the version that moves them into SaslAuthenticate (KIP-152).

import type { MessageSpec } from '../schema.js'

export const saslHandshakeRequest: MessageSpec = {
  name: 'SaslHandshakeRequest',
  apiKey: 17,
  type: 'request',
  validVersions: '0-1',
  flexibleVersions: 'none',
  fields: [{ name: 'mechanism', type: 'string', versions: '0+' }],
}

export const saslHandshakeResponse: MessageSpec = {
  name: 'SaslHandshakeResponse',
  apiKey: 17,
  type: 'response',
  validVersions: '0-1',
  flexibleVersions: 'none',
  fields: [
    { name: 'errorCode', type: 'int16', versions: '0+' },
    { name: 'mechanisms', type: '[]string', versions: '0+' },
  ],
}

export const saslAuthenticateRequest: MessageSpec = {
  name: 'SaslAuthenticateRequest',
  apiKey: 36,
  type: 'request',
  validVersions: '0-2',
  flexibleVersions: '2+',
  fields: [{ name: 'authBytes', type: 'bytes', versions: '0+' }],
}

export const saslAuthenticateResponse: MessageSpec = {
  name: 'SaslAuthenticateResponse',
  apiKey: 36,
  type: 'response',
  validVersions: '0-2',
  flexibleVersions: '2+',
  fields: [
    { name: 'errorCode', type: 'int16', versions: '0+' },
    { name: 'errorMessage', type: 'string', versions: '0+', nullableVersions: '0+' },
    { name: 'authBytes', type: 'bytes', versions: '0+' },
    { name: 'sessionLifetimeMs', type: 'int64', versions: '1+', default: 0n },
  ],
}
