// Change data capture: the public surface. capture.ts publishes a source's row changes, sink.ts
// applies them to target stores; event.ts is the record format, schemas.ts the row schemas.

export { applyChange, applyRecord, applyTombstone, supersedes, type ApplicableChange, type ApplyOutcome, type ChangePosition } from './apply.js'
export { ChangeCapture, type ChangeCaptureOptions, type ChangeTransaction, type ChangeVersion } from './capture.js'
export { ChangeEventError, SchemaIncompatibleError, SchemaNotFoundError } from './errors.js'
export {
  decodeChangeRecord,
  decodeEnvelope,
  encodeEnvelope,
  recordKey,
  SCHEMA_HEADER,
  TOMBSTONE_TIMESTAMP_HEADER,
  TOMBSTONE_VERSION_HEADER,
  type ChangeEvent,
  type ChangeOperation,
  type ChangeRecord,
  type EncodedChangeEvent,
} from './event.js'
export { MemorySchemaRegistry, RowDecoder, schemaFingerprint, schemaTopicOf, TopicSchemaRegistry, type RowSchema, type SchemaLookup } from './schemas.js'
export { ChangeSink, type ChangeSinkOptions, type ChangeSinkStats } from './sink.js'
export { JsonFileStore, MemoryStore, type ChangeMeta, type StoredRow, type StoredVersion, type TargetStore } from './store.js'
