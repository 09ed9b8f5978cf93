// The fuzzer's socket: raw bytes out, response frames counted (and kept when the caller reads
// answers: probes, SASL logins and scripted exchanges), a close by the broker told from its own,
// and a shadow of the broker's framing for the guard (guard.ts). Used by fuzz.ts and sasl-conn.ts.

import net from 'node:net'
import { FrameDecoder } from '../../client/protocol/frame.js'
import { ShadowFraming, type SessionKind } from './guard.js'

const CONNECT_TIMEOUT_MS = 3000
/** A worker gives up on a socket whose writes the broker has not taken (it paused reading) for this long. */
const DRAIN_WAIT_MS = 1000
/** Responses larger than this are not expected from any fuzzed request (a Fetch answers at most 64 MiB). */
const RESPONSE_BYTES_MAX = 128 * 1024 * 1024

export interface RawConnOptions {
  /** The broker's frame limit for this socket as it starts (PRE_AUTH_FRAME_BYTES_MAX before SASL). */
  frameBytesMax: number
  /** Keep response frames for nextFrame(); off while fuzzing, where one answer may be 64 MiB. */
  keepFrames?: boolean
}

function count(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1
}

export class RawConn {
  readonly socket: net.Socket
  /** The broker's framing of what this socket sent. */
  readonly shadow: ShadowFraming
  /** Kept response frames, oldest first (while keepFrames). */
  readonly frames: Buffer[] = []
  /** Who the socket speaks as, for the guard; set by whoever logs it in. */
  session: SessionKind = 'open'
  keepFrames: boolean
  responses = 0
  closed = false
  closedByUs = false
  /** The broker will close this one after answering what came before (an undecodable frame, a refused size). */
  doomed = false
  /** A frame of another API was sent before authenticating: the broker must close the socket. */
  preAuthGateTripped = false
  /**
   * The broker reset the connection (EPIPE or ECONNRESET): it closed with bytes of ours unread,
   * and Node drops what it had received and not yet handed out, an answer included.
   */
  reset = false
  badResponseFraming = false
  readonly #decoder = new FrameDecoder({ frameBytesMax: RESPONSE_BYTES_MAX })
  /** How many of `frames` nextFrame() has handed out. */
  #framesRead = 0
  /** Woken by every frame and by the close. */
  #onFrame: Array<() => void> = []
  #onClose: Array<() => void> = []

  private constructor(socket: net.Socket, options: RawConnOptions, errors: Record<string, number>) {
    this.socket = socket
    this.shadow = new ShadowFraming(options.frameBytesMax)
    this.keepFrames = options.keepFrames ?? false
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const f of this.#decoder.push(chunk)) {
          this.responses++
          if (this.keepFrames) this.frames.push(f)
        }
      } catch {
        this.badResponseFraming = true
        socket.destroy()
      }
      this.#wake()
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      count(errors, err.code ?? err.message)
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') this.reset = true
    })
    socket.on('close', () => {
      this.closed = true
      this.#wake()
      for (const w of this.#onClose) w()
      this.#onClose = []
    })
  }

  static async open(port: number, errors: Record<string, number>, options: RawConnOptions): Promise<RawConn | null> {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true })
    const ok = await new Promise<boolean>((resolve) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        clearTimeout(timer)
        count(errors, `connect ${err.code ?? err.message}`)
        resolve(false)
      }
      const timer = setTimeout(() => {
        socket.off('error', onError)
        resolve(false)
      }, CONNECT_TIMEOUT_MS)
      socket.once('connect', () => {
        clearTimeout(timer)
        socket.off('error', onError)
        resolve(true)
      })
      socket.once('error', onError)
    })
    if (!ok) {
      socket.destroy()
      return null
    }
    return new RawConn(socket, options, errors)
  }

  get closedByBroker(): boolean {
    return this.closed && !this.closedByUs
  }

  /** Writes, waiting (bounded) for the broker to take the bytes; false if it did not. */
  async write(bytes: Buffer): Promise<boolean> {
    if (this.closed) return false
    if (this.socket.write(bytes)) return true
    const drained = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), DRAIN_WAIT_MS)
      this.socket.once('drain', () => {
        clearTimeout(timer)
        resolve(true)
      })
      this.#onClose.push(() => resolve(false))
    })
    return drained
  }

  /** The next kept response frame not handed out yet; null if the socket closes or `ms` pass first. */
  async nextFrame(ms: number): Promise<Buffer | null> {
    const deadline = performance.now() + ms
    for (;;) {
      const frame = this.frames[this.#framesRead]
      if (frame !== undefined) {
        this.#framesRead++
        return frame
      }
      const left = deadline - performance.now()
      if (this.closed || left <= 0) return null
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#onFrame.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** Stops keeping frames and drops the kept ones (after a login, before fuzzing). */
  dropFrames(): void {
    this.keepFrames = false
    this.frames.length = 0
    this.#framesRead = 0
  }

  /** Resolves true once closed, false after `ms`. */
  async waitClosed(ms: number): Promise<boolean> {
    if (this.closed) return true
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms)
      this.#onClose.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  destroy(): void {
    if (!this.closed) this.closedByUs = true
    this.socket.destroy()
  }

  #wake(): void {
    const waiters = this.#onFrame
    this.#onFrame = []
    for (const w of waiters) w()
  }
}
