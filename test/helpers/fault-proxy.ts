// A protocol-aware TCP proxy between a client and one broker, for tests that need a response to
// be lost for real. It forwards frames both ways and can cut the client's connection right after
// forwarding a Produce request: the broker still gets the request, appends the batch and answers,
// but the answer is swallowed, so the client sees only a closed connection (a lost acknowledgement
// of an appended batch). The proxy keeps its side to the broker open until every request it
// forwarded there is answered, so "appended" is a fact, not a race, and it records those answers.
//
// Metadata responses are rewritten to name the proxy instead of the broker, so a client that
// bootstraps through the proxy keeps talking through it.

import net from 'node:net'
import { ApiKey, decodeRequest, decodeResponse, encodeResponse } from '../../client/protocol/apis.js'
import { FrameDecoder, readRequestHeader, SIZE_PREFIX_BYTES } from '../../client/protocol/frame.js'
import type { Teardown } from './broker-process.js'

/** A Produce response the client never saw: one entry per partition it answered. */
export interface LostAck {
  topic: string
  partition: number
  errorCode: number
  baseOffset: bigint
}

export interface FaultProxyOptions {
  /** The broker's port on 127.0.0.1. */
  targetPort: number
  /** Whether to cut the client's connection right after forwarding the n-th (0-based) Produce request. */
  cutAfterProduce?: (n: number) => boolean
}

interface Forwarded {
  correlationId: number
  apiKey: number
  apiVersion: number
}

/** Frames bigger than this are a bug in a test: the proxy is for small workloads. */
const FRAME_BYTES_MAX = 64 * 1024 * 1024

export class FaultProxy {
  readonly port: number
  /** Produce requests forwarded so far. */
  produceRequests = 0
  /** Client connections cut after a Produce request. */
  cuts = 0
  /** Produce answers swallowed because their connection was cut. */
  readonly lostAcks: LostAck[] = []
  readonly #server: net.Server
  readonly #targetPort: number
  readonly #cutAfterProduce: (n: number) => boolean
  readonly #sockets = new Set<net.Socket>()

  private constructor(server: net.Server, options: FaultProxyOptions) {
    this.#server = server
    this.port = (server.address() as net.AddressInfo).port
    this.#targetPort = options.targetPort
    this.#cutAfterProduce = options.cutAfterProduce ?? (() => false)
    server.on('connection', (client) => this.#accept(client))
  }

  static async start(t: Teardown, options: FaultProxyOptions): Promise<FaultProxy> {
    const server = net.createServer()
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', resolve)
    })
    const proxy = new FaultProxy(server, options)
    t.teardown(() => proxy.close())
    return proxy
  }

  get address(): string {
    return `127.0.0.1:${this.port}`
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }

  #track(socket: net.Socket): net.Socket {
    this.#sockets.add(socket)
    socket.on('close', () => this.#sockets.delete(socket))
    socket.on('error', () => undefined)
    return socket
  }

  #accept(client: net.Socket): void {
    this.#track(client)
    const upstream = this.#track(net.connect(this.#targetPort, '127.0.0.1'))
    const forwarded: Forwarded[] = []
    const fromClient = new FrameDecoder({ frameBytesMax: FRAME_BYTES_MAX })
    const fromBroker = new FrameDecoder({ frameBytesMax: FRAME_BYTES_MAX })
    let cut = false
    client.on('data', (chunk: Buffer) => {
      for (const frame of fromClient.push(chunk)) {
        if (cut) return // Requests after the cut never reach the broker, as if lost in transit.
        const header = readRequestHeader(frame)
        const produce = header.apiKey === ApiKey.Produce ? decodeRequest(ApiKey.Produce, frame).body : null
        // acks=0 gets no response frame: nothing to match it with.
        if (produce === null || produce.acks !== 0) forwarded.push({ correlationId: header.correlationId, apiKey: header.apiKey, apiVersion: header.apiVersion })
        upstream.write(withSizePrefix(frame))
        if (produce !== null && this.#cutAfterProduce(this.produceRequests++)) {
          cut = true
          this.cuts++
          client.destroy()
        }
      }
    })
    client.on('close', () => {
      if (!cut || forwarded.length === 0) upstream.destroy()
    })
    upstream.on('data', (chunk: Buffer) => {
      for (const frame of fromBroker.push(chunk)) {
        const request = forwarded.shift()
        if (request === undefined) throw new Error('fault proxy: a response with no request')
        if (cut) {
          if (request.apiKey === ApiKey.Produce) this.#recordLost(request, frame)
          if (forwarded.length === 0) upstream.destroy()
          continue
        }
        client.write(request.apiKey === ApiKey.Metadata ? this.#rewriteMetadata(request, frame) : withSizePrefix(frame))
      }
    })
    upstream.on('close', () => client.destroy())
  }

  #recordLost(request: Forwarded, frame: Buffer): void {
    const { body } = decodeResponse(ApiKey.Produce, request.apiVersion, frame)
    for (const t of body.topics) {
      for (const p of t.partitions) this.lostAcks.push({ topic: t.name, partition: p.index, errorCode: p.errorCode, baseOffset: p.baseOffset })
    }
  }

  /** The broker's Metadata answer with the proxy's address in place of the broker's. */
  #rewriteMetadata(request: Forwarded, frame: Buffer): Buffer {
    const { correlationId, body } = decodeResponse(ApiKey.Metadata, request.apiVersion, frame)
    const brokers = body.brokers.map((b) => (b.port === this.#targetPort ? { ...b, host: '127.0.0.1', port: this.port } : b))
    return encodeResponse(ApiKey.Metadata, request.apiVersion, correlationId, { ...body, brokers })
  }
}

function withSizePrefix(frame: Buffer): Buffer {
  const prefix = Buffer.allocUnsafe(SIZE_PREFIX_BYTES)
  prefix.writeInt32BE(frame.length, 0)
  return Buffer.concat([prefix, frame])
}
