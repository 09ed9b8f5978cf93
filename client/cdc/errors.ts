// Errors of change data capture. None crosses the wire, so they live here rather than in
// client/protocol/errors.ts. None is retriable: each means the topic holds something this reader
// cannot make sense of, and reading it again gives the same bytes.

import { StrandError } from '../errors.js'

/** A record of a CDC topic is not a change event (bad magic byte, truncated, bad key or headers). */
export class ChangeEventError extends StrandError {
  override readonly name = 'ChangeEventError'
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CDC_BAD_EVENT', message, { retriable: false, cause: options.cause })
  }
}

/** An event names a row schema (by fingerprint) that the schema topic does not hold. */
export class SchemaNotFoundError extends StrandError {
  override readonly name = 'SchemaNotFoundError'
  readonly fingerprint: string
  constructor(fingerprint: string, where: string) {
    super('CDC_SCHEMA_NOT_FOUND', `No row schema with fingerprint ${fingerprint} in ${where}.`, { retriable: false })
    this.fingerprint = fingerprint
  }
}

/** The reader's row schema cannot read rows of a writer schema (a field without a default was added, a type changed...). */
export class SchemaIncompatibleError extends StrandError {
  override readonly name = 'SchemaIncompatibleError'
  constructor(table: string, fingerprint: string, cause: unknown) {
    super('CDC_SCHEMA_INCOMPATIBLE', `The reader schema of table "${table}" cannot read rows written with schema ${fingerprint}: ${(cause as Error)?.message ?? String(cause)}`, {
      retriable: false,
      cause,
    })
  }
}
