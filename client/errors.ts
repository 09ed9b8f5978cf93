// Errors the client raises on its own, next to the wire errors it re-exports. Every class has a
// fixed `name`, a stable `code` that never changes meaning, and an explicit `retriable`: callers
// retry on `retriable` alone, so a permanent failure must never claim to be transient (kafkajs
// defaulted to retriable and looped on permanent errors).

import { errorFromCode, StrandError, WIRE_ERRORS, type StrandProtocolError } from './protocol/errors.js'

export { errorFromCode, StrandError, StrandProtocolError, WIRE_ERRORS, type WireErrorName } from './protocol/errors.js'
export { ClosedError, ConnectionError, ConnectTimeoutError, RequestTimeoutError } from './net/errors.js'

/** An argument or option is invalid (bad broker address, unknown partition, bad offset...). */
export class InvalidArgumentError extends StrandError {
  override readonly name = 'InvalidArgumentError'
  constructor(message: string) {
    super('INVALID_ARGUMENT', message, { retriable: false })
  }
}

/** A method was called in a state that does not allow it (e.g. two concurrent iterations). */
export class IllegalStateError extends StrandError {
  override readonly name = 'IllegalStateError'
  constructor(message: string) {
    super('ILLEGAL_STATE', message, { retriable: false })
  }
}

/**
 * A record is larger than a bound of this client (the request size, the producer's buffer, or
 * the consumer's maxBytes), so it can never be sent or read with these options.
 */
export class RecordTooLargeError extends StrandError {
  override readonly name = 'RecordTooLargeError'
  constructor(message: string) {
    super('RECORD_TOO_LARGE', message, { retriable: false })
  }
}

/**
 * The log was truncated under a consumer's position (KIP-320, Kafka's LogTruncationException):
 * after a leader change, the new leader's log ends the leader epoch of the last records the
 * consumer read at `divergentOffset`, below its position `offset`, so the records it read from
 * there on are gone (an unclean leader election). Thrown from the consuming loop only with
 * autoOffsetReset 'none'; otherwise the consumer goes back to `divergentOffset` by itself. The
 * partition is not fetched until the application seek()s it (to `divergentOffset`, for one).
 */
export class LogTruncationError extends StrandError {
  override readonly name = 'LogTruncationError'
  readonly topic: string
  readonly partition: number
  /** The consumer's position when the truncation was found. */
  readonly offset: bigint
  /** Where the new leader's log stops agreeing with what the consumer read. */
  readonly divergentOffset: bigint
  constructor(topic: string, partition: number, offset: bigint, divergentOffset: bigint) {
    super('LOG_TRUNCATION', `${topic}-${partition}: the log was truncated at ${divergentOffset}, below this consumer's position ${offset}; records it read from ${divergentOffset} on are no longer in the log. seek() to go on.`, { retriable: false })
    this.topic = topic
    this.partition = partition
    this.offset = offset
    this.divergentOffset = divergentOffset
  }
}

/** The feature exists in the design but not yet in this client (consumer groups, for now). */
export class NotAvailableYetError extends StrandError {
  override readonly name = 'NotAvailableYetError'
  constructor(message: string) {
    super('NOT_AVAILABLE_YET', message, { retriable: false })
  }
}

/** True for errors that may succeed on a retry; anything not a StrandError is treated as permanent. */
export function isRetriable(err: unknown): boolean {
  return err instanceof StrandError && err.retriable
}

/**
 * The typed error for a wire error code and the broker's message. Our broker's messages start
 * with the table's text for the code, which the typed error already carries: it is not repeated.
 */
export function wireError(errorCode: number, brokerMessage?: string | null, context?: string): StrandProtocolError | null {
  const bare = errorFromCode(errorCode)
  if (bare === null) return null
  const tableText = WIRE_ERRORS[bare.code].message
  let detail = brokerMessage ?? ''
  if (detail.startsWith(tableText)) detail = detail.slice(tableText.length).trim()
  const parts = [context, detail].filter((x): x is string => x !== undefined && x.length > 0)
  return parts.length === 0 ? bare : errorFromCode(errorCode, parts.join(' '))
}
