// A Kafka-protocol socket for tests of the Kafka listener: sends requests encoded with the Kafka
// schemas (client/protocol/kafka/) and reads the responses in order, so a test can send exactly
// what a Kafka client would (or a malformed frame) and see the raw answer. Closed at teardown.

import net from 'node:net'
import { kafkaRequestHeader } from '../../client/protocol/kafka/frame.js'
import { KafkaWriter, messageCodec, type KafkaStruct, type MessageSpec } from '../../client/protocol/kafka/schema.js'
import type { Teardown } from './broker-process.js'

/** A response not read by then fails the test. */
const RESPONSE_TIMEOUT_MS = 10_000

export interface KafkaFrame {
  correlationId: number
  /** The response bytes after the correlation id (a header v1 tag section included, if any). */
  rest: Buffer
}

export class KafkaWire {
  readonly #socket: net.Socket
  #buffered = Buffer.alloc(0)
  readonly #frames: KafkaFrame[] = []
  #waiter: (() => void) | null = null
  #closed = false
  readonly closed: Promise<void>
  #correlationId = 0

  private constructor(socket: net.Socket) {
    this.#socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#buffered = Buffer.concat([this.#buffered, chunk])
      while (this.#buffered.length >= 4 && this.#buffered.length >= 4 + this.#buffered.readInt32BE(0)) {
        const size = this.#buffered.readInt32BE(0)
        const frame = this.#buffered.subarray(4, 4 + size)
        this.#buffered = this.#buffered.subarray(4 + size)
        this.#frames.push({ correlationId: frame.readInt32BE(0), rest: frame.subarray(4) })
      }
      this.#waiter?.()
    })
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.#closed = true
      this.#waiter?.()
      resolve()
    }))
    socket.on('error', () => undefined)
  }

  static async connect(t: Teardown, port: number, host = '127.0.0.1'): Promise<KafkaWire> {
    const socket = net.connect({ host, port })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    return KafkaWire.over(t, socket)
  }

  /** Wraps a socket already connected (a test that must write in the connect callback itself). */
  static over(t: Teardown, socket: net.Socket): KafkaWire {
    const wire = new KafkaWire(socket)
    t.teardown(() => socket.destroy())
    return wire
  }

  /** A whole request frame for `spec` at `version`; returns its correlation id. */
  frame(spec: MessageSpec, version: number, body: KafkaStruct, clientId: string | null = 'kafka-wire-test'): { bytes: Buffer; correlationId: number } {
    const codec = messageCodec(spec, version)
    const correlationId = ++this.#correlationId
    const header = kafkaRequestHeader({ apiKey: spec.apiKey, apiVersion: version, correlationId, clientId }, codec.flexible)
    const w = new KafkaWriter()
    codec.encode(w, body)
    const payload = w.toBuffer()
    const size = Buffer.allocUnsafe(4)
    size.writeInt32BE(header.length + payload.length, 0)
    return { bytes: Buffer.concat([size, header, payload]), correlationId }
  }

  write(bytes: Buffer): void {
    this.#socket.write(bytes)
  }

  /** The next response frame; null if the broker closed the connection first. */
  async next(): Promise<KafkaFrame | null> {
    const deadline = Date.now() + RESPONSE_TIMEOUT_MS
    // Woken by each chunk read and by the close; a chunk may end mid-frame, so look again.
    while (this.#frames.length === 0) {
      if (this.#closed) return null
      const remainingMs = deadline - Date.now()
      if (remainingMs <= 0) throw new Error(`no response within ${RESPONSE_TIMEOUT_MS} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remainingMs)
        this.#waiter = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.#waiter = null
    }
    return this.#frames.shift() as KafkaFrame
  }

  /** Sends a request and decodes its response (header v0 or v1 as the version says). */
  async request(request: MessageSpec, response: MessageSpec, version: number, body: KafkaStruct): Promise<KafkaStruct> {
    const { bytes, correlationId } = this.frame(request, version, body)
    this.write(bytes)
    const frame = await this.next()
    if (frame === null) throw new Error(`${request.name} v${version}: the broker closed the connection`)
    if (frame.correlationId !== correlationId) throw new Error(`${request.name} v${version}: correlation id ${frame.correlationId}, expected ${correlationId}`)
    return decodeResponse(response, version, frame)
  }
}

/** A response body; flexible versions (but ApiVersions) have a header v1 tag section first. */
export function decodeResponse(spec: MessageSpec, version: number, frame: KafkaFrame): KafkaStruct {
  const codec = messageCodec(spec, version)
  const headerTags = codec.flexible && spec.apiKey !== 18 ? 1 : 0
  return codec.decode(frame.rest, headerTags, 'CORRUPT_MESSAGE')
}
