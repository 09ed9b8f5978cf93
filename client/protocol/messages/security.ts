// Security APIs, numbered and shaped as Kafka's:
//
// - SaslHandshake (key 17) names the mechanism; SaslAuthenticate (key 36) carries its messages
//   (KIP-152: SASL bytes inside framed requests, so a failure has an error code and a message).
//   A connection on a listener with SASL enabled may send only ApiVersions and these two until it
//   has authenticated.
// - DescribeUserScramCredentials (50) and AlterUserScramCredentials (51) manage SCRAM users
//   (KIP-554). An upsertion carries the salt and the salted password, computed by the client:
//   the password itself never crosses the wire, and the controller stores only the stored and
//   server keys derived from it.
// - DescribeAcls (29), CreateAcls (30) and DeleteAcls (31) manage ACLs (KIP-140), with Kafka's
//   numeric codes for resource types, pattern types, operations and permissions (AclCodes below).

import { array, bytes, int, long, nullable, record, string, type Value } from '../avro.js'

export const SaslHandshakeRequestV0 = record('SaslHandshakeRequestV0', { mechanism: string })
export const SaslHandshakeResponseV0 = record('SaslHandshakeResponseV0', { errorCode: int, mechanisms: array(string) })

export const SaslAuthenticateRequestV0 = record('SaslAuthenticateRequestV0', { authBytes: bytes })
export const SaslAuthenticateResponseV0 = record('SaslAuthenticateResponseV0', {
  errorCode: int,
  errorMessage: nullable(string),
  authBytes: bytes,
  /** 0: the session does not expire (re-authentication, KIP-368, is not supported). */
  sessionLifetimeMs: long,
})

/** Kafka's ScramMechanism codes. */
export const ScramMechanismCode = { 'SCRAM-SHA-256': 1 } as const

export const DescribeUserScramCredentialsRequestV0 = record('DescribeUserScramCredentialsRequestV0', {
  /** null: every user. */
  users: nullable(array(record('UserName', { name: string }))),
})
export const DescribeUserScramCredentialsResponseV0 = record('DescribeUserScramCredentialsResponseV0', {
  errorCode: int,
  errorMessage: nullable(string),
  results: array(
    record('DescribeUserScramCredentialsResult', {
      user: string,
      errorCode: int,
      errorMessage: nullable(string),
      credentialInfos: array(record('CredentialInfo', { mechanism: int, iterations: int })),
    }),
  ),
})

export const AlterUserScramCredentialsRequestV0 = record('AlterUserScramCredentialsRequestV0', {
  deletions: array(record('ScramCredentialDeletion', { name: string, mechanism: int })),
  upsertions: array(record('ScramCredentialUpsertion', { name: string, mechanism: int, iterations: int, salt: bytes, saltedPassword: bytes })),
})
export const AlterUserScramCredentialsResponseV0 = record('AlterUserScramCredentialsResponseV0', {
  results: array(record('AlterUserScramCredentialsResult', { user: string, errorCode: int, errorMessage: nullable(string) })),
})

/** Kafka's codes (ResourceType, PatternType, AclOperation, AclPermissionType). `any` and `match` only in filters. */
export const AclCodes = {
  resourceType: { any: 1, topic: 2, group: 3, cluster: 4, 'transactional-id': 5 },
  patternType: { any: 1, match: 2, literal: 3, prefixed: 4 },
  operation: { any: 1, all: 2, read: 3, write: 4, create: 5, delete: 6, alter: 7, describe: 8, cluster_action: 9, describe_configs: 10, alter_configs: 11, idempotent_write: 12 },
  permission: { any: 1, deny: 2, allow: 3 },
} as const

/** The name a code has in one of AclCodes' tables (`aclCodeName(AclCodes.operation, 3)` is 'read'), or undefined. */
export function aclCodeName<T extends Record<string, number>>(table: T, code: number): keyof T | undefined {
  return (Object.keys(table) as Array<keyof T>).find((k) => table[k] === code)
}

const AclBindingFields = {
  resourceType: int,
  resourceName: string,
  patternType: int,
  principal: string,
  host: string,
  operation: int,
  permissionType: int,
}
/** A filter: null fields and `any` codes match everything. */
const AclFilterFields = {
  resourceType: int,
  resourceName: nullable(string),
  patternType: int,
  principal: nullable(string),
  host: nullable(string),
  operation: int,
  permissionType: int,
}

export const DescribeAclsRequestV0 = record('DescribeAclsRequestV0', AclFilterFields)
export const DescribeAclsResponseV0 = record('DescribeAclsResponseV0', {
  errorCode: int,
  errorMessage: nullable(string),
  acls: array(record('DescribedAcl', AclBindingFields)),
})

export const CreateAclsRequestV0 = record('CreateAclsRequestV0', { creations: array(record('AclCreation', AclBindingFields)) })
export const CreateAclsResponseV0 = record('CreateAclsResponseV0', { results: array(record('AclCreationResult', { errorCode: int, errorMessage: nullable(string) })) })

export const DeleteAclsRequestV0 = record('DeleteAclsRequestV0', { filters: array(record('DeleteAclsFilter', AclFilterFields)) })
export const DeleteAclsResponseV0 = record('DeleteAclsResponseV0', {
  filterResults: array(
    record('DeleteAclsFilterResult', {
      errorCode: int,
      errorMessage: nullable(string),
      matchingAcls: array(record('DeletedAcl', AclBindingFields)),
    }),
  ),
})

export type SaslHandshakeRequest = Value<typeof SaslHandshakeRequestV0>
export type SaslHandshakeResponse = Value<typeof SaslHandshakeResponseV0>
export type SaslAuthenticateRequest = Value<typeof SaslAuthenticateRequestV0>
export type SaslAuthenticateResponse = Value<typeof SaslAuthenticateResponseV0>
export type DescribeUserScramCredentialsRequest = Value<typeof DescribeUserScramCredentialsRequestV0>
export type DescribeUserScramCredentialsResponse = Value<typeof DescribeUserScramCredentialsResponseV0>
export type AlterUserScramCredentialsRequest = Value<typeof AlterUserScramCredentialsRequestV0>
export type AlterUserScramCredentialsResponse = Value<typeof AlterUserScramCredentialsResponseV0>
export type DescribeAclsRequest = Value<typeof DescribeAclsRequestV0>
export type DescribeAclsResponse = Value<typeof DescribeAclsResponseV0>
export type CreateAclsRequest = Value<typeof CreateAclsRequestV0>
export type CreateAclsResponse = Value<typeof CreateAclsResponseV0>
export type DeleteAclsRequest = Value<typeof DeleteAclsRequestV0>
export type DeleteAclsResponse = Value<typeof DeleteAclsResponseV0>
export type AclBindingWire = DescribeAclsResponse['acls'][number]
export type AclFilterWire = DescribeAclsRequest

export const saslHandshakeVersions = { 0: { request: SaslHandshakeRequestV0, response: SaslHandshakeResponseV0 } } as const
export const saslAuthenticateVersions = { 0: { request: SaslAuthenticateRequestV0, response: SaslAuthenticateResponseV0 } } as const
export const describeUserScramCredentialsVersions = { 0: { request: DescribeUserScramCredentialsRequestV0, response: DescribeUserScramCredentialsResponseV0 } } as const
export const alterUserScramCredentialsVersions = { 0: { request: AlterUserScramCredentialsRequestV0, response: AlterUserScramCredentialsResponseV0 } } as const
export const describeAclsVersions = { 0: { request: DescribeAclsRequestV0, response: DescribeAclsResponseV0 } } as const
export const createAclsVersions = { 0: { request: CreateAclsRequestV0, response: CreateAclsResponseV0 } } as const
export const deleteAclsVersions = { 0: { request: DeleteAclsRequestV0, response: DeleteAclsResponseV0 } } as const
