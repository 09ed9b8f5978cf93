// One client connection: frames in, responses out, in request order (Kafka semantics), with
// pipelining and bounded memory.
//
// Requests are handled concurrently (a slow long-poll Fetch does not block a Produce behind it
// from starting), but responses are written strictly in arrival order: each request takes a slot
// in `#pending`, and the head slots are flushed as soon as they complete.
//
// Backpressure: reading from the socket pauses while `inflightRequestsMax` requests are pending
// or while the socket's write buffer is above its high-water mark (a client that does not read
// its responses), and resumes when both clear. Memory per connection is therefore bounded by
// inflightRequestsMax requests plus one socket buffer, not by what the client sends.
//
// Time limits: `idleTimeoutMs` closes a connection on which no byte moved either way for that long
// (Node's socket timeout: any read or write resets it). That alone let a client trickling one byte
// every few seconds hold a connection and its partial frame forever, so a frame must also complete
// within `requestReadTimeoutMs` of its first byte (the request read deadline). Time during which
// the broker itself stopped reading (backpressure, shutdown) does not count against the client.

import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import type { Session } from '../security/session.js'

/** Decodes a byte stream into frame bodies; throws a typed error on a bad size prefix. */
export interface FrameSource {
  push(chunk: Buffer): Buffer[]
  /** True while a frame has begun arriving and is not complete. */
  readonly hasPartialFrame: boolean
  /** A bad size prefix found after frames that push() returned: answer them, then close. */
  readonly failure?: Error | null
}

/**
 * Handles one frame body. Resolves with the whole response frame to write (one buffer, or its
 * chunks in order), or null when the request gets no response (Produce with acks=0). Rejects only
 * when the connection must close (a request whose header cannot be read: there is no correlation
 * id to answer). `session` says who the client is (its address, principal, SASL state); a handler
 * that sets its `closeAfterResponse` has the connection closed once its answer is written.
 */
export type FrameHandler = (frame: Buffer, session: Session) => Promise<Buffer | readonly Buffer[] | null>

interface Slot {
  /** The response once the handler has finished; undefined while it runs. */
  response: Buffer | readonly Buffer[] | null | undefined
  done: boolean
}

export interface ConnectionOptions {
  socket: Socket
  session: Session
  decoder: FrameSource
  handle: FrameHandler
  inflightRequestsMax: number
  idleTimeoutMs: number
  /** A frame whose first byte has arrived must be complete within this long. */
  requestReadTimeoutMs: number
  /** The read deadline's timer; Node's own unless a test drives time itself. */
  timers?: DeadlineTimers
  logger: Logger
  onClose: () => void
}

/** setTimeout and clearTimeout, as the read deadline uses them. */
export interface DeadlineTimers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

const NODE_TIMERS: DeadlineTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
}

export class Connection {
  readonly #socket: Socket
  readonly #session: Session
  readonly #decoder: FrameSource
  readonly #handle: FrameHandler
  readonly #inflightRequestsMax: number
  readonly #requestReadTimeoutMs: number
  readonly #logger: Logger
  readonly #timers: DeadlineTimers
  /** Fires when the frame being received has taken longer than requestReadTimeoutMs; unset between frames. */
  #readDeadline: unknown
  /** Requests received and not yet answered, in arrival order. */
  readonly #pending: Slot[] = []
  /**
   * Frames decoded but not yet dispatched: one socket read can hold thousands of small frames, and
   * only `inflightRequestsMax` of them may be in the handlers at once. Bounded by what one read
   * delivers, since reading pauses while this is non-empty.
   */
  #queued: Buffer[] = []
  /** True while reading is paused because the socket's write buffer is full. */
  #writeBlocked = false
  #closed = false
  /** Set by a graceful shutdown: no new requests are read, pending ones are still answered. */
  #readingStopped = false
  /** Set once the connection is to close after answering what is pending. */
  #ending = false
  /** Resolves when every pending request has been answered (used by a graceful shutdown). */
  #drainWaiters: Array<() => void> = []

  constructor(options: ConnectionOptions) {
    this.#socket = options.socket
    this.#session = options.session
    this.#decoder = options.decoder
    this.#handle = options.handle
    this.#inflightRequestsMax = options.inflightRequestsMax
    this.#requestReadTimeoutMs = options.requestReadTimeoutMs
    this.#timers = options.timers ?? NODE_TIMERS
    this.#logger = options.logger
    const socket = options.socket
    socket.setNoDelay(true)
    socket.setTimeout(options.idleTimeoutMs, () => {
      this.#logger.info({ remote: socket.remoteAddress }, 'closing idle connection')
      this.close()
    })
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('drain', () => {
      this.#writeBlocked = false
      this.#updateReading()
    })
    socket.on('error', (err) => this.#logger.debug({ err }, 'connection error'))
    socket.on('close', () => {
      this.#closed = true
      this.#timers.clearTimeout(this.#readDeadline)
      this.#notifyDrained()
      options.onClose()
    })
  }

  get inflight(): number {
    return this.#pending.length
  }

  #onData(chunk: Buffer): void {
    let frames: Buffer[]
    try {
      frames = this.#decoder.push(chunk)
    } catch (err) {
      // A size prefix that is negative or above max.request.bytes: there is no way to find the
      // next frame boundary, so the stream is unusable. Answer what is pending, then close.
      this.#logger.warn({ err: (err as Error).message, remote: this.#socket.remoteAddress }, 'bad frame; closing connection')
      this.#endAfterPending()
      return
    }
    this.#trackReadDeadline(frames.length > 0)
    for (const frame of frames) this.#queued.push(frame)
    this.#dispatchQueued()
    const failure = this.#decoder.failure
    if (failure !== undefined && failure !== null) {
      this.#logger.warn({ err: failure.message, remote: this.#socket.remoteAddress }, 'bad frame after complete ones; answering those, then closing the connection')
      this.#endAfterPending()
      return
    }
    this.#updateReading()
  }

  /**
   * Arms the read deadline when a frame begins: in a chunk that started the decoder's partial
   * frame, or one that completed frames and left the start of the next. A chunk that only
   * continues a frame leaves its deadline as it was.
   */
  #trackReadDeadline(completedFrames: boolean): void {
    if (!this.#decoder.hasPartialFrame) {
      this.#timers.clearTimeout(this.#readDeadline)
      this.#readDeadline = undefined
    } else if (completedFrames || this.#readDeadline === undefined) {
      this.#armReadDeadline()
    }
  }

  #armReadDeadline(): void {
    this.#timers.clearTimeout(this.#readDeadline)
    this.#readDeadline = this.#timers.setTimeout(() => this.#onReadDeadline(), this.#requestReadTimeoutMs)
  }

  #onReadDeadline(): void {
    this.#readDeadline = undefined
    if (this.#closed) return
    // The broker paused reading (requests in flight, responses unread, shutdown): the rest of the
    // frame may be waiting in the socket unread. Stay armed; resuming restarts the period.
    if (this.#socket.isPaused()) {
      this.#armReadDeadline()
      return
    }
    this.#logger.warn(
      { remote: this.#socket.remoteAddress, port: this.#socket.remotePort, requestReadTimeoutMs: this.#requestReadTimeoutMs },
      'request not complete within request.read.timeout.ms of its first byte; closing connection',
    )
    this.close()
  }

  #dispatchQueued(): void {
    let taken = 0
    while (taken < this.#queued.length && this.#pending.length < this.#inflightRequestsMax && !this.#closed && !this.#readingStopped) {
      this.#dispatch(this.#queued[taken]!)
      taken++
    }
    if (taken > 0) this.#queued = this.#queued.slice(taken)
  }

  #dispatch(frame: Buffer): void {
    const slot: Slot = { response: undefined, done: false }
    this.#pending.push(slot)
    this.#handle(frame, this.#session).then(
      (response) => {
        slot.response = response
        slot.done = true
        this.#flush()
        if (this.#session.closeAfterResponse) this.#endAfterPending()
      },
      (err: unknown) => {
        this.#logger.warn({ err: (err as Error).message, remote: this.#socket.remoteAddress }, 'request cannot be answered; closing connection')
        slot.response = null
        slot.done = true
        this.#flush()
        this.#endAfterPending()
      },
    )
  }

  #flush(): void {
    // Every response ready now, and every chunk of each (a Fetch response's record batches are
    // chunks of their own, not copied), goes to the kernel in one writev: a syscall per chunk was
    // the largest part of a busy broker's socket writing.
    this.#socket.cork()
    try {
      while (this.#pending.length > 0 && (this.#pending[0] as Slot).done) {
        const slot = this.#pending.shift() as Slot
        const response = slot.response
        if (response === null || response === undefined || this.#closed) continue
        if (Buffer.isBuffer(response)) {
          if (!this.#socket.write(response)) this.#writeBlocked = true
        } else {
          for (const chunk of response) if (!this.#socket.write(chunk)) this.#writeBlocked = true
        }
      }
    } finally {
      this.#socket.uncork()
    }
    this.#dispatchQueued()
    if (this.#pending.length === 0) this.#notifyDrained()
    this.#updateReading()
  }

  #updateReading(): void {
    if (this.#closed) return
    const shouldPause = this.#readingStopped || this.#writeBlocked || this.#queued.length > 0 || this.#pending.length >= this.#inflightRequestsMax
    if (shouldPause && !this.#socket.isPaused()) this.#socket.pause()
    else if (!shouldPause && this.#socket.isPaused()) {
      this.#socket.resume()
      // The period runs while the broker reads: a frame held back by backpressure starts afresh.
      if (this.#readDeadline !== undefined) this.#armReadDeadline()
    }
  }

  /**
   * Answers what is pending, then closes. Reading is stopped, so the peer's FIN would never be
   * seen: destroy once our last bytes are written instead of waiting for a half-close that may
   * never complete (that leaked a connection slot per bad frame until max.connections was hit).
   */
  #endAfterPending(): void {
    // Once per connection: every rejected request of a pipelined burst lands here, and each
    // destroySoon() would add another 'finish' listener (MaxListenersExceededWarning under fuzzing).
    if (this.#ending) return
    this.#ending = true
    this.stopReading()
    void this.drained().then(() => this.#socket.destroySoon())
  }

  #notifyDrained(): void {
    if (this.#pending.length > 0 && !this.#closed) return
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const w of waiters) w()
  }

  /** Resolves once every request received so far has been answered. */
  drained(): Promise<void> {
    if (this.#pending.length === 0 || this.#closed) return Promise.resolve()
    return new Promise((resolve) => this.#drainWaiters.push(resolve))
  }

  /** Stops reading new requests; pending ones are still answered. */
  stopReading(): void {
    this.#readingStopped = true
    this.#socket.pause()
  }

  close(): void {
    if (this.#closed) return
    this.#socket.destroy()
  }
}
