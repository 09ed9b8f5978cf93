// The one table of errors that cross the wire. A code never changes meaning once released; new
// errors get new codes. Codes follow Apache Kafka's Errors.java where the meaning is the same, so
// operators who know Kafka read our logs without a glossary.
//
// `retriable` is set explicitly on every row: a client retries only what the broker says may
// succeed on a retry (kafkajs defaulted to true and looped forever on permanent errors).

export interface WireErrorSpec {
  readonly code: number
  readonly retriable: boolean
  readonly message: string
}

export const WIRE_ERRORS = {
  UNKNOWN_SERVER_ERROR: { code: -1, retriable: false, message: 'The broker hit an unexpected error while handling the request.' },
  NONE: { code: 0, retriable: false, message: 'No error.' },
  OFFSET_OUT_OF_RANGE: { code: 1, retriable: false, message: 'The requested offset is outside the range of offsets kept for the partition.' },
  CORRUPT_MESSAGE: { code: 2, retriable: true, message: 'The record batch failed its CRC check, has an invalid size, or is otherwise malformed.' },
  UNKNOWN_TOPIC_OR_PARTITION: { code: 3, retriable: true, message: 'This broker does not host this topic-partition.' },
  INVALID_FETCH_SIZE: { code: 4, retriable: false, message: 'The requested fetch size is invalid.' },
  LEADER_NOT_AVAILABLE: { code: 5, retriable: true, message: 'The partition has no leader right now; a leader election may be in progress.' },
  NOT_LEADER_OR_FOLLOWER: { code: 6, retriable: true, message: 'This broker is not the leader (or a follower) of the partition.' },
  REQUEST_TIMED_OUT: { code: 7, retriable: true, message: 'The request timed out.' },
  BROKER_NOT_AVAILABLE: { code: 8, retriable: true, message: 'The broker is not available.' },
  REPLICA_NOT_AVAILABLE: { code: 9, retriable: true, message: 'The replica is not available for the requested topic-partition.' },
  MESSAGE_TOO_LARGE: { code: 10, retriable: false, message: 'The request included a record batch larger than the broker accepts.' },
  NETWORK_EXCEPTION: { code: 13, retriable: true, message: 'The connection was closed before a response was received.' },
  COORDINATOR_LOAD_IN_PROGRESS: { code: 14, retriable: true, message: 'The coordinator is loading and cannot serve this request yet.' },
  COORDINATOR_NOT_AVAILABLE: { code: 15, retriable: true, message: 'The coordinator is not available.' },
  NOT_COORDINATOR: { code: 16, retriable: true, message: 'This is not the correct coordinator.' },
  INVALID_TOPIC: { code: 17, retriable: false, message: 'The topic name is invalid: use 1 to 249 characters from [a-zA-Z0-9._-], not "." or "..".' },
  RECORD_LIST_TOO_LARGE: { code: 18, retriable: false, message: 'The request included record batches larger than the segment size.' },
  NOT_ENOUGH_REPLICAS: { code: 19, retriable: true, message: 'Fewer in-sync replicas than min.insync.replicas; the records were not appended.' },
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: { code: 20, retriable: true, message: 'The records were appended, but to fewer in-sync replicas than required.' },
  INVALID_REQUIRED_ACKS: { code: 21, retriable: false, message: 'acks must be -1 (all), 0 or 1.' },
  ILLEGAL_GENERATION: { code: 22, retriable: false, message: 'The generation id is not the current one of the group.' },
  INCONSISTENT_GROUP_PROTOCOL: { code: 23, retriable: false, message: 'The member protocol does not match the group.' },
  INVALID_GROUP_ID: { code: 24, retriable: false, message: 'The group id is invalid.' },
  UNKNOWN_MEMBER_ID: { code: 25, retriable: false, message: 'The member id is not known to the coordinator.' },
  INVALID_SESSION_TIMEOUT: { code: 26, retriable: false, message: 'The session timeout is outside the range the broker allows.' },
  REBALANCE_IN_PROGRESS: { code: 27, retriable: false, message: 'The group is rebalancing; rejoin it.' },
  INVALID_COMMIT_OFFSET_SIZE: { code: 28, retriable: false, message: 'The committed offset metadata is too large.' },
  TOPIC_AUTHORIZATION_FAILED: { code: 29, retriable: false, message: 'The principal is not authorized to access the topic.' },
  GROUP_AUTHORIZATION_FAILED: { code: 30, retriable: false, message: 'The principal is not authorized to access the group.' },
  CLUSTER_AUTHORIZATION_FAILED: { code: 31, retriable: false, message: 'The principal is not authorized for this cluster operation.' },
  INVALID_TIMESTAMP: { code: 32, retriable: false, message: 'A record timestamp is out of the accepted range.' },
  UNSUPPORTED_SASL_MECHANISM: { code: 33, retriable: false, message: 'The broker does not support the requested SASL mechanism on this listener.' },
  ILLEGAL_SASL_STATE: { code: 34, retriable: false, message: 'The request is not valid in the current SASL state of the connection.' },
  UNSUPPORTED_VERSION: { code: 35, retriable: false, message: 'The broker does not support this API or API version.' },
  TOPIC_ALREADY_EXISTS: { code: 36, retriable: false, message: 'The topic already exists.' },
  INVALID_PARTITIONS: { code: 37, retriable: false, message: 'The number of partitions is invalid.' },
  INVALID_REPLICATION_FACTOR: { code: 38, retriable: false, message: 'The replication factor is invalid.' },
  INVALID_REPLICA_ASSIGNMENT: { code: 39, retriable: false, message: 'The replica assignment is invalid.' },
  INVALID_CONFIG: { code: 40, retriable: false, message: 'A configuration key or value is invalid.' },
  NOT_CONTROLLER: { code: 41, retriable: true, message: 'This broker is not the active controller.' },
  INVALID_REQUEST: { code: 42, retriable: false, message: 'The request is malformed or violates the protocol.' },
  POLICY_VIOLATION: { code: 44, retriable: false, message: 'The request violates a broker policy.' },
  OUT_OF_ORDER_SEQUENCE_NUMBER: { code: 45, retriable: false, message: 'The broker received an out of order sequence number.' },
  DUPLICATE_SEQUENCE_NUMBER: { code: 46, retriable: false, message: 'The broker received a duplicate sequence number.' },
  INVALID_PRODUCER_EPOCH: { code: 47, retriable: false, message: 'The producer epoch is older than the current one (a newer producer took over).' },
  INVALID_TXN_STATE: { code: 48, retriable: false, message: 'The producer attempted a transactional operation in an invalid state.' },
  INVALID_PRODUCER_ID_MAPPING: { code: 49, retriable: false, message: 'The producer id does not match the transactional id (or the transactional id is unknown to its coordinator).' },
  INVALID_TRANSACTION_TIMEOUT: { code: 50, retriable: false, message: 'The transaction timeout is larger than transaction.max.timeout.ms or not positive.' },
  CONCURRENT_TRANSACTIONS: { code: 51, retriable: true, message: 'The producer\'s previous transaction is still being completed (its markers are being written); retry.' },
  TRANSACTION_COORDINATOR_FENCED: { code: 52, retriable: false, message: 'A newer transaction coordinator took over this transactional id.' },
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: { code: 53, retriable: false, message: 'The principal is not authorized to use the transactional id.' },
  OPERATION_NOT_ATTEMPTED: { code: 55, retriable: false, message: 'The operation was not attempted because another part of the request failed.' },
  UNSTABLE_OFFSET_COMMIT: { code: 88, retriable: true, message: 'The group has offsets for the partition in a transaction not decided yet; retry once it commits or aborts.' },
  PRODUCER_FENCED: { code: 90, retriable: false, message: 'A newer producer with the same transactional id took over; this one is fenced.' },
  TRANSACTIONAL_ID_NOT_FOUND: { code: 105, retriable: false, message: 'The transactional id is not known to its coordinator: no producer has initialized it.' },
  SECURITY_DISABLED: { code: 54, retriable: false, message: 'Security features are disabled on this broker.' },
  KAFKA_STORAGE_ERROR: { code: 56, retriable: true, message: 'The broker failed to read or write the partition on disk.' },
  SASL_AUTHENTICATION_FAILED: { code: 58, retriable: false, message: 'SASL authentication failed.' },
  UNKNOWN_PRODUCER_ID: { code: 59, retriable: false, message: 'The broker has no state for this producer id.' },
  GROUP_ID_NOT_FOUND: { code: 69, retriable: false, message: 'The group id does not exist.' },
  FETCH_SESSION_ID_NOT_FOUND: { code: 70, retriable: true, message: 'The fetch session id is not known: this broker keeps no fetch sessions, so fetch with session id 0.' },
  FENCED_LEADER_EPOCH: { code: 74, retriable: true, message: 'The leader epoch in the request is older than the broker\'s.' },
  UNKNOWN_LEADER_EPOCH: { code: 75, retriable: true, message: 'The leader epoch in the request is newer than the broker\'s.' },
  UNSUPPORTED_COMPRESSION_TYPE: { code: 76, retriable: false, message: 'The record batch uses a compression codec this broker does not support (Kafka listener: none and gzip).' },
  OFFSET_NOT_AVAILABLE: { code: 78, retriable: true, message: 'The leader high watermark has not caught up yet.' },
  MEMBER_ID_REQUIRED: { code: 79, retriable: false, message: 'The group member must rejoin with the member id the coordinator gave it.' },
  GROUP_MAX_SIZE_REACHED: { code: 81, retriable: false, message: 'The group is full.' },
  INCONSISTENT_VOTER_SET: { code: 94, retriable: false, message: 'The sender is not one of the configured voters of the quorum.' },
  FENCED_INSTANCE_ID: { code: 82, retriable: false, message: 'The broker was fenced by a newer instance.' },
  UNKNOWN_TOPIC_ID: { code: 100, retriable: true, message: 'This broker does not know the topic id.' },
  INVALID_RECORD: { code: 87, retriable: false, message: 'A record failed the broker\'s validation.' },
  THROTTLING_QUOTA_EXCEEDED: { code: 89, retriable: true, message: 'A resource limit of the broker was reached; retry later.' },
  STALE_BROKER_EPOCH: { code: 77, retriable: false, message: 'The broker epoch is stale.' },
  RESOURCE_NOT_FOUND: { code: 91, retriable: false, message: 'The resource (a user, an ACL) does not exist.' },
  DUPLICATE_RESOURCE: { code: 92, retriable: false, message: 'The request names the same resource more than once.' },
  UNACCEPTABLE_CREDENTIAL: { code: 93, retriable: false, message: 'The credential is not acceptable (iterations out of range, empty salt or name).' },
  INELIGIBLE_REPLICA: { code: 107, retriable: false, message: 'A replica the ISR change would add is fenced or not a replica of the partition.' },
  INVALID_UPDATE_VERSION: { code: 95, retriable: false, message: 'The partition epoch does not match; the change was based on old state.' },
} as const satisfies Record<string, WireErrorSpec>

export type WireErrorName = keyof typeof WIRE_ERRORS

const NAME_BY_CODE: ReadonlyMap<number, WireErrorName> = new Map(
  (Object.keys(WIRE_ERRORS) as WireErrorName[]).map((name) => [WIRE_ERRORS[name].code, name]),
)

/** Base class of every error Strand throws; `code` is stable, `retriable` is always explicit. */
export class StrandError extends Error {
  override readonly name: string = 'StrandError'
  readonly code: string
  readonly retriable: boolean
  constructor(code: string, message: string, options: { retriable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.retriable = options.retriable
  }
}

/**
 * An error the broker reported on the wire (or that a codec found in wire bytes). `code` is the
 * error's name (`'NOT_LEADER_OR_FOLLOWER'`), `errorCode` its number on the wire.
 */
export class StrandProtocolError extends StrandError {
  override readonly name = 'StrandProtocolError'
  readonly errorCode: number
  declare readonly code: WireErrorName
  constructor(name: WireErrorName, detail?: string, cause?: unknown) {
    const spec: WireErrorSpec = WIRE_ERRORS[name]
    super(name, detail === undefined ? spec.message : `${spec.message} ${detail}`, { retriable: spec.retriable, cause })
    this.errorCode = spec.code
  }
}

/** Builds the typed error for a wire error code; an unknown code maps to UNKNOWN_SERVER_ERROR. */
export function errorFromCode(errorCode: number, detail?: string | null): StrandProtocolError | null {
  if (errorCode === 0) return null
  const name = NAME_BY_CODE.get(errorCode)
  if (name === undefined) return new StrandProtocolError('UNKNOWN_SERVER_ERROR', `Unknown error code ${errorCode}. ${detail ?? ''}`.trim())
  return new StrandProtocolError(name, detail ?? undefined)
}

/** The error's name for a wire code, for logs; unknown codes read as `code <n>`. */
export function nameOfCode(errorCode: number): string {
  return NAME_BY_CODE.get(errorCode) ?? `code ${errorCode}`
}

export function errorCodeOf(name: WireErrorName): number {
  return WIRE_ERRORS[name].code
}

/**
 * The wire code for anything thrown while handling a request: its own if typed; an operating
 * system I/O error (EIO, ENOSPC, ...) is KAFKA_STORAGE_ERROR, which is retriable, because the
 * client may succeed against another replica or once the disk recovers; else UNKNOWN_SERVER_ERROR.
 */
export function toWireCode(err: unknown): number {
  if (err instanceof StrandProtocolError) return err.errorCode
  if (isSystemError(err)) return WIRE_ERRORS.KAFKA_STORAGE_ERROR.code
  return WIRE_ERRORS.UNKNOWN_SERVER_ERROR.code
}

function isSystemError(err: unknown): boolean {
  const e = err as { code?: unknown; syscall?: unknown } | null
  return e !== null && typeof e === 'object' && typeof e.code === 'string' && typeof e.syscall === 'string'
}
