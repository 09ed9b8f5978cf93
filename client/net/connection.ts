// One TCP connection to one broker: correlation ids, pipelining, timeouts, reconnect.
//
// Many requests may be in flight at once (at most inflightRequestsMax); the broker answers them
// in request order (Kafka semantics), so the pending list is a FIFO and every response must carry
// the correlation id of its head. A response that does not is a protocol violation: the
// connection is closed, since nothing after it can be trusted to line up.
//
// A Produce with acks=0 gets no response frame at all. Such a request is written but never
// queued: it resolves once the bytes are handed to the kernel, and takes no slot in the FIFO
// (a slot would wait forever for a response that never comes).
//
// When the socket fails or closes, every pending request rejects with a retriable
// ConnectionError; the next request opens a new socket. A request that times out closes the
// connection too (as Kafka's NetworkClient does): its response may still come, and with the
// FIFO matching it would otherwise be taken for the answer to the next request.
//
// Versions: an API this client speaks in one version only is sent at it. For one it speaks in
// several (Produce v0 and v1), the first such request on a socket asks the broker what it speaks
// (ApiVersions, once, shared by every request that needs it meanwhile) and each is sent at the
// highest version both sides know; a broker that shares none makes the request fail with
// UNSUPPORTED_VERSION. Unlike Kafka's NetworkClient, which asks on every new connection, the
// question waits for a request that needs it: most connections (a follower's fetcher, a group
// coordinator's) never send one, and a round trip per connect would buy them nothing. The answer
// is forgotten with its socket, since a broker that restarted may speak other versions.

import net from 'node:net'
import tls from 'node:tls'
import { ApiKey, apiName, decodeResponse, encodeRequestChunks, versionRange, type ApiKeyValue, type ApiTypes, type FrameChunks } from '../protocol/apis.js'
import { errorFromCode, StrandError, StrandProtocolError } from '../protocol/errors.js'
import type { ApiVersionsResponse } from '../protocol/messages/api-versions.js'
import { FrameDecoder, FrameReader } from '../protocol/frame.js'
import { ClosedError, ConnectionError, ConnectTimeoutError, RequestTimeoutError } from './errors.js'
import { authenticate, AuthenticationError, isPermanentTlsError, tlsConnectOptions, type RoundTrip, type SecurityOptions } from './security.js'

/** The SASL exchange's APIs (SaslHandshake, SaslAuthenticate) have one version each. */
const SASL_API_VERSION = 0
/** The longest delay setTimeout takes (2^31 - 1 ms, about 24.8 days). */
const TIMER_MS_MAX = 2 ** 31 - 1
/** TCP keep-alive probes start after this much idle time, so a dead peer is noticed eventually. */
const KEEP_ALIVE_DELAY_MS = 60_000

export interface ConnectionOptions {
  host: string
  port: number
  clientId: string | null
  connectTimeoutMs: number
  /** Default time a request may wait for its response. */
  requestTimeoutMs: number
  /** Requests awaiting a response at once; more wait for a slot (backpressure). */
  inflightRequestsMax: number
  /** Largest response frame accepted; a larger size prefix closes the connection. */
  frameBytesMax: number
  /** TLS and SASL; plaintext and unauthenticated when absent. */
  security?: SecurityOptions
}

export interface RequestOptions {
  /** Overrides requestTimeoutMs (a long-polling Fetch needs its maxWaitMs on top). */
  timeoutMs?: number
  /** Sends at this version instead of the negotiated one (tests and tools that act as an older client). */
  apiVersion?: number
}

interface Pending {
  readonly correlationId: number
  readonly apiKey: ApiKeyValue
  /** The version it was sent at, which its response is decoded at. */
  readonly apiVersion: number
  readonly resolve: (body: unknown) => void
  readonly reject: (err: Error) => void
  /** performance.now() by which the response must have come. */
  readonly deadline: number
  readonly timeoutMs: number
}

interface SlotWaiter {
  resolve: () => void
  reject: (err: Error) => void
}

export class Connection {
  /** 'host:port', for errors and logs. */
  readonly address: string
  readonly #options: ConnectionOptions
  /** The open socket; null before the first request, after a failure, and after close(). */
  #socket: net.Socket | null = null
  /** The connect in progress, shared by every request that arrives meanwhile. */
  #connecting: Promise<net.Socket> | null = null
  /** Requests written and awaiting their response, in request (= response) order. */
  #inflight: Pending[] = []
  /** Slots taken: in #inflight, or reserved by a request that is connecting or encoding. */
  #slotsUsed = 0
  /** Requests waiting for a slot, served first come, first served. */
  #slotWaiters: SlotWaiter[] = []
  #nextCorrelationId = 0
  #closed = false
  /** Why the connection was shut: later requests fail the same way (retriable after retire()). */
  #shutError: Error | null = null
  /**
   * One timer for every request in flight, set for the earliest deadline it knew of (#deadlineAt):
   * a timer per request was an object, a closure and two timer-list updates per request.
   */
  #deadlineTimer: NodeJS.Timeout | null = null
  #deadlineAt = Infinity
  /**
   * The version to send each multi-version API at, from the current socket's ApiVersions answer
   * (-1: the broker shares no version of it with this client); null until asked, and again once
   * the socket is gone.
   */
  #versions: Map<number, number> | null = null
  /** The ApiVersions request in flight, shared by every request waiting for its answer. */
  #negotiating: Promise<Map<number, number>> | null = null
  /** The socket whose broker gave `#versions`: a version chosen there means nothing on another one. */
  #versionsSocket: net.Socket | null = null

  constructor(options: ConnectionOptions) {
    this.#options = options
    this.address = `${options.host}:${options.port}`
  }

  get connected(): boolean {
    return this.#socket !== null
  }

  get inflightRequests(): number {
    return this.#inflight.length
  }

  /** Sends a request and resolves with the decoded response body. */
  async request<K extends ApiKeyValue>(apiKey: K, body: ApiTypes[K]['request'], options: RequestOptions = {}): Promise<ApiTypes[K]['response']> {
    // The version is settled before a slot is taken: asking the broker takes a slot of its own.
    const known = options.apiVersion ?? this.#knownVersion(apiKey)
    const apiVersion = known ?? (await this.#negotiatedVersion(apiKey))
    await this.#acquireSlot()
    let socket: net.Socket
    let frame: FrameChunks
    const correlationId = this.#takeCorrelationId()
    try {
      socket = this.#socket ?? (await this.#connect())
      if (options.apiVersion === undefined && this.#negotiatedOnOther(apiKey, socket)) {
        // The socket the version was chosen on is gone (a reconnect meanwhile, maybe to a broker
        // restarted at another version): ask this one.
        this.#releaseSlot()
        return this.request(apiKey, body, options)
      }
      frame = encodeRequestChunks(apiKey, apiVersion, correlationId, this.#options.clientId, body)
    } catch (err) {
      this.#releaseSlot()
      throw err
    }
    const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs
    return new Promise<ApiTypes[K]['response']>((resolve, reject) => {
      if (this.#socket !== socket) {
        // The socket died between connecting and now; its failure handler has already run.
        this.#releaseSlot()
        reject(this.#closed ? (this.#shutError ?? new ClosedError(`connection to ${this.address}`)) : new ConnectionError(this.address, 'connection closed before the request was sent'))
        return
      }
      const pending: Pending = {
        correlationId,
        apiKey,
        apiVersion,
        resolve: resolve as (body: unknown) => void,
        reject,
        deadline: performance.now() + (Number.isFinite(timeoutMs) ? timeoutMs : this.#options.requestTimeoutMs),
        timeoutMs,
      }
      this.#inflight.push(pending)
      if (pending.deadline < this.#deadlineAt) this.#armDeadline(pending.deadline)
      writeFrame(socket, frame)
    })
  }

  /**
   * Sends a request the broker does not answer (Produce with acks=0). Resolves once the bytes
   * are flushed to the kernel, which is also what bounds how many such writes pile up.
   */
  async send<K extends ApiKeyValue>(apiKey: K, body: ApiTypes[K]['request'], options: Pick<RequestOptions, 'apiVersion'> = {}): Promise<void> {
    const apiVersion = options.apiVersion ?? this.#knownVersion(apiKey) ?? (await this.#negotiatedVersion(apiKey))
    const socket = this.#socket ?? (await this.#connect())
    if (options.apiVersion === undefined && this.#negotiatedOnOther(apiKey, socket)) return this.send(apiKey, body, options)
    const frame = encodeRequestChunks(apiKey, apiVersion, this.#takeCorrelationId(), this.#options.clientId, body)
    await new Promise<void>((resolve, reject) => {
      if (this.#socket !== socket) {
        reject(new ConnectionError(this.address, 'connection closed before the request was sent'))
        return
      }
      // A broker that stops reading (SIGSTOP, a black-holed network) never drains the kernel
      // buffer, so the write callback may never come: bound it like any request, then drop the
      // connection so everything queued on it fails over to a fresh one.
      const timeoutMs = this.#options.requestTimeoutMs
      const timer = setTimeout(() => {
        const err = new RequestTimeoutError(this.address, apiName(apiKey), timeoutMs)
        reject(err)
        this.#fail(socket, new ConnectionError(this.address, `connection closed after an unacknowledged ${apiName(apiKey)} write timed out`))
        socket.destroy()
      }, timeoutMs)
      writeFrame(socket, frame, (err) => {
        clearTimeout(timer)
        if (err === undefined || err === null) resolve()
        else reject(new ConnectionError(this.address, `write failed: ${err.message}`, { cause: err }))
      })
    })
  }

  /** Closes the socket; pending and waiting requests reject with ClosedError. Idempotent. */
  close(): void {
    this.#shut(new ClosedError(`connection to ${this.address}`))
  }

  /**
   * Closes a connection the client no longer wants (its broker moved or left the cluster) while
   * the client itself carries on: pending and waiting requests reject with a retriable
   * ConnectionError, so their callers retry against the new metadata.
   */
  retire(): void {
    this.#shut(new ConnectionError(this.address, 'the broker moved or left the cluster; retry against fresh metadata'))
  }

  #shut(err: Error): void {
    if (this.#closed) return
    this.#closed = true
    this.#shutError = err
    for (const w of this.#slotWaiters.splice(0)) w.reject(err)
    const socket = this.#socket
    if (socket !== null) {
      this.#fail(socket, err)
      socket.destroy()
    }
  }

  /**
   * The version to send `apiKey` at, when it is known without asking the broker: the only one this
   * client speaks, or the one chosen from the current socket's ApiVersions answer.
   */
  #knownVersion(apiKey: ApiKeyValue): number | undefined {
    const range = versionRange(apiKey)
    if (range === undefined || range.minVersion === range.maxVersion) return range?.maxVersion ?? 0
    const versions = this.#versions
    return versions === null ? undefined : this.#chosen(versions, apiKey)
  }

  /** Whether `apiKey` speaks several versions and the one chosen for it came from another socket than `socket`. */
  #negotiatedOnOther(apiKey: ApiKeyValue, socket: net.Socket): boolean {
    const range = versionRange(apiKey)
    if (range === undefined || range.minVersion === range.maxVersion) return false
    if (this.#versionsSocket === socket) return false
    this.#versions = null
    return true
  }

  /** Asks the broker what it speaks (once per socket), then answers as #knownVersion. */
  async #negotiatedVersion(apiKey: ApiKeyValue): Promise<number> {
    this.#negotiating ??= this.request(ApiKey.ApiVersions, {}).then(
      (res) => {
        this.#negotiating = null
        const versions = chooseVersions(res, this.address)
        // The answer came on the current socket, unless it failed since (then this is null, and
        // whoever uses these versions asks again on the next socket).
        this.#versions = versions
        this.#versionsSocket = this.#socket
        return versions
      },
      (err: unknown) => {
        this.#negotiating = null
        throw err
      },
    )
    return this.#chosen(await this.#negotiating, apiKey)
  }

  #chosen(versions: ReadonlyMap<number, number>, apiKey: ApiKeyValue): number {
    const v = versions.get(apiKey)
    if (v !== undefined && v >= 0) return v
    const range = versionRange(apiKey)
    throw new StrandProtocolError('UNSUPPORTED_VERSION', `${this.address} speaks no version of ${apiName(apiKey)} that this client does (v${range?.minVersion}-v${range?.maxVersion}).`)
  }

  #takeCorrelationId(): number {
    const id = this.#nextCorrelationId
    this.#nextCorrelationId = (id + 1) & 0x7fffffff
    return id
  }

  #acquireSlot(): Promise<void> | undefined {
    if (this.#closed) return Promise.reject(this.#shutError ?? new ClosedError(`connection to ${this.address}`))
    if (this.#slotsUsed < this.#options.inflightRequestsMax && this.#slotWaiters.length === 0) {
      this.#slotsUsed++
      return undefined
    }
    return new Promise<void>((resolve, reject) => this.#slotWaiters.push({ resolve, reject }))
  }

  #releaseSlot(): void {
    const next = this.#slotWaiters.shift()
    // The slot passes straight to the next waiter, so a newcomer cannot take it first.
    if (next !== undefined) next.resolve()
    else this.#slotsUsed--
  }

  #connect(): Promise<net.Socket> {
    if (this.#closed) return Promise.reject(this.#shutError ?? new ClosedError(`connection to ${this.address}`))
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = null
    })
    return this.#connecting
  }

  #open(): Promise<net.Socket> {
    const { host, port, connectTimeoutMs, security } = this.#options
    return new Promise<net.Socket>((resolve, reject) => {
      // Until the socket is the connection's, frames go to the SASL exchange (if any); #attach
      // then points `sink` at the response FIFO.
      let sink: (frames: Buffer[]) => void = () => {}
      let socket: net.Socket
      const take = (read: () => Buffer[]): void => {
        let frames: Buffer[]
        try {
          frames = read()
        } catch (err) {
          this.#fail(socket, new ConnectionError(this.address, 'unreadable response frame', { cause: err }))
          socket.destroy()
          return
        }
        sink(frames)
      }
      if (security?.tls !== undefined && security.tls !== null) {
        // TLS decrypts into buffers of its own, so frames are split from its 'data' events.
        const decoder = new FrameDecoder({ frameBytesMax: this.#options.frameBytesMax })
        socket = tls.connect(tlsConnectOptions(host, port, security.tls))
        socket.on('data', (chunk: Buffer) => take(() => decoder.push(chunk)))
      } else {
        // Responses are read straight into their frames' own buffers (FrameReader).
        const reader = new FrameReader({ frameBytesMax: this.#options.frameBytesMax })
        socket = net.connect({ host, port, onread: { buffer: () => reader.next(), callback: (n: number) => { take(() => reader.read(n)); return true } } })
      }
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new ConnectTimeoutError(this.address, connectTimeoutMs))
      }, connectTimeoutMs)
      const onError = (err: Error): void => {
        clearTimeout(timer)
        socket.destroy()
        reject(this.#connectError(err))
      }
      socket.once('error', onError)
      socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
        const sasl = security?.sasl
        const ready = sasl === undefined || sasl === null ? Promise.resolve() : authenticate(this.#roundTripOn(socket, (s) => (sink = s)), sasl)
        ready.then(
          () => {
            clearTimeout(timer)
            socket.off('error', onError)
            if (this.#closed) {
              socket.destroy()
              reject(this.#shutError ?? new ClosedError(`connection to ${this.address}`))
              return
            }
            sink = this.#attach(socket)
            resolve(socket)
          },
          (err: unknown) => {
            clearTimeout(timer)
            socket.destroy()
            reject(err instanceof StrandError ? err : this.#connectError(err as Error))
          },
        )
      })
    })
  }

  /** The error a failed connect rejects with: permanent for a TLS failure retrying cannot fix. */
  #connectError(err: Error): Error {
    if (isPermanentTlsError(err)) return new AuthenticationError(`TLS connection to ${this.address} failed: ${err.message}`, err)
    return new ConnectionError(this.address, `connect failed: ${err.message}`, { cause: err })
  }

  /**
   * One request at a time on a socket that is not yet the connection's (the SASL exchange, before
   * any other request may be sent): `setSink` routes the next frame to the request's answer.
   */
  #roundTripOn(socket: net.Socket, setSink: (sink: (frames: Buffer[]) => void) => void): RoundTrip {
    return <K extends ApiKeyValue>(apiKey: K, body: ApiTypes[K]['request']) =>
      new Promise<ApiTypes[K]['response']>((resolve, reject) => {
        const correlationId = this.#takeCorrelationId()
        const onClose = (): void => reject(new ConnectionError(this.address, `connection closed by the broker during ${apiName(apiKey)}`))
        socket.once('close', onClose)
        setSink((frames) => {
          socket.off('close', onClose)
          setSink(() => {})
          const frame = frames[0]
          if (frames.length !== 1 || frame === undefined || frame.readInt32BE(0) !== correlationId) {
            socket.destroy()
            reject(new ConnectionError(this.address, `unexpected response during ${apiName(apiKey)}`))
            return
          }
          try {
            resolve(decodeResponse(apiKey, SASL_API_VERSION, frame).body)
          } catch (err) {
            reject(err as Error)
          }
        })
        writeFrame(socket, encodeRequestChunks(apiKey, SASL_API_VERSION, correlationId, this.#options.clientId, body))
      })
  }

  /** Makes `socket` the connection's; returns what handles the frames it delivers. */
  #attach(socket: net.Socket): (frames: Buffer[]) => void {
    socket.setNoDelay(true)
    socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS)
    const onFrames = (frames: Buffer[]): void => {
      for (const frame of frames) {
        if (this.#socket !== socket) return
        this.#onFrame(socket, frame)
      }
    }
    socket.on('error', (err: Error) => {
      // With TLS 1.3 the broker refuses a client certificate after the client's handshake is done:
      // the alert arrives here, and it is as permanent as a refusal during the handshake.
      const failure = isPermanentTlsError(err) ? new AuthenticationError(`TLS connection to ${this.address} failed: ${err.message}`, err) : new ConnectionError(this.address, err.message, { cause: err })
      this.#fail(socket, failure)
    })
    socket.on('close', () => this.#fail(socket, new ConnectionError(this.address, 'connection closed by the broker')))
    this.#socket = socket
    return onFrames
  }

  #onFrame(socket: net.Socket, frame: Buffer): void {
    const head = this.#inflight[0]
    const correlationId = frame.length >= 4 ? frame.readInt32BE(0) : -1
    if (head === undefined || head.correlationId !== correlationId) {
      const expected = head === undefined ? 'none' : String(head.correlationId)
      this.#fail(socket, new ConnectionError(this.address, `response with correlation id ${correlationId}, expected ${expected}`))
      socket.destroy()
      return
    }
    this.#inflight.shift()
    this.#settle()
    try {
      head.resolve(decodeResponse(head.apiKey, head.apiVersion, frame).body)
    } catch (err) {
      // A body we cannot decode spoils only this response: framing is intact, so the stream goes on.
      // At a negotiated version it may be a broker that no longer speaks it (an UNSUPPORTED_VERSION
      // answer has another shape): the next request asks again.
      if (head.apiVersion > 0) this.#versions = null
      head.reject(err as Error)
    }
  }

  #onTimeout(socket: net.Socket, pending: Pending, timeoutMs: number): void {
    const i = this.#inflight.indexOf(pending)
    if (i < 0) return
    this.#inflight.splice(i, 1)
    this.#settle()
    pending.reject(new RequestTimeoutError(this.address, apiName(pending.apiKey), timeoutMs))
    this.#fail(socket, new ConnectionError(this.address, `connection closed after a ${apiName(pending.apiKey)} request timed out`))
    socket.destroy()
  }

  #settle(): void {
    if (this.#inflight.length === 0) this.#disarmDeadline()
    this.#releaseSlot()
  }

  #armDeadline(at: number): void {
    if (this.#deadlineTimer !== null) clearTimeout(this.#deadlineTimer)
    this.#deadlineAt = at
    // Node runs a longer timer at once (with a warning): one that far off is re-armed when it fires.
    this.#deadlineTimer = setTimeout(() => this.#onDeadline(), Math.min(TIMER_MS_MAX, Math.max(1, Math.ceil(at - performance.now()))))
  }

  #disarmDeadline(): void {
    if (this.#deadlineTimer !== null) clearTimeout(this.#deadlineTimer)
    this.#deadlineTimer = null
    this.#deadlineAt = Infinity
  }

  /** Times out the first request past its deadline (which closes the connection), or waits for the next deadline. */
  #onDeadline(): void {
    this.#deadlineTimer = null
    this.#deadlineAt = Infinity
    const socket = this.#socket
    const now = performance.now()
    let next = Infinity
    for (const p of this.#inflight) {
      if (p.deadline <= now) {
        if (socket !== null) this.#onTimeout(socket, p, p.timeoutMs)
        return
      }
      if (p.deadline < next) next = p.deadline
    }
    if (next < Infinity) this.#armDeadline(next)
  }

  /** Forgets `socket` (if still current) and rejects everything that was waiting on it. */
  #fail(socket: net.Socket, err: Error): void {
    if (this.#socket !== socket) return
    this.#socket = null
    this.#versions = null
    this.#versionsSocket = null
    const pending = this.#inflight
    this.#inflight = []
    for (const p of pending) {
      this.#settle()
      p.reject(err)
    }
  }
}

/**
 * Writes a frame's chunks (its record batches are chunks of their own, not copied into it) with
 * one writev; `done` is called once the last is flushed.
 */
function writeFrame(socket: net.Socket, chunks: FrameChunks, done?: (err?: Error | null) => void): void {
  socket.cork()
  try {
    const last = chunks.length - 1
    for (let i = 0; i < last; i++) socket.write(chunks[i] as Buffer)
    socket.write(chunks[last] as Buffer, done)
  } finally {
    socket.uncork()
  }
}

/**
 * For each API this client speaks in several versions, the highest version the broker speaks too
 * (-1 when there is none), from its ApiVersions answer.
 */
function chooseVersions(res: ApiVersionsResponse, address: string): Map<number, number> {
  const err = errorFromCode(res.errorCode, `ApiVersions from ${address}.`)
  if (err !== null) throw err
  const chosen = new Map<number, number>()
  for (const theirs of res.apiKeys) {
    const mine = versionRange(theirs.apiKey)
    if (mine === undefined || mine.minVersion === mine.maxVersion) continue
    const v = Math.min(mine.maxVersion, theirs.maxVersion)
    chosen.set(theirs.apiKey, v >= Math.max(mine.minVersion, theirs.minVersion) ? v : -1)
  }
  return chosen
}
