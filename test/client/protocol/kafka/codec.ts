// The codec under test, in the form the checks of bytes.ts take it. bytes.ts builds the expected
// bytes and so must not import client/protocol/kafka/schema.ts; this is the one bridge to it.

import { KafkaWriter, messageCodec, type MessageSpec } from '../../../../client/protocol/kafka/schema.js'
import type { CodecUnderTest } from './bytes.js'

/** `spec`'s codec at `version`; an unsupported version throws UNSUPPORTED_VERSION here, as messageCodec does. */
export function codecOf(spec: MessageSpec, version: number): CodecUnderTest {
  const codec = messageCodec(spec, version)
  return {
    what: `${spec.name} v${version}`,
    encode(value) {
      const w = new KafkaWriter()
      codec.encode(w, value)
      return w.toBuffer()
    },
    decode: (body) => codec.decode(body),
  }
}
