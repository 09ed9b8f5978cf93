// Users and ACLs: DescribeUserScramCredentials and DescribeAcls from this broker's image (any
// broker answers), AlterUserScramCredentials, CreateAcls and DeleteAcls decided by the active
// controller as metadata records (others say NOT_CONTROLLER and the client retries against the
// controller). Each user, ACL or filter succeeds or fails on its own, with a message. SaslHandshake
// and SaslAuthenticate are answered by the session's SaslServer (security/sasl-server.ts).

import { randomUUID } from 'node:crypto'
import { errorCodeOf, toWireCode, type WireErrorName } from '../../../client/protocol/errors.js'
import {
  AclCodes,
  aclCodeName as nameOf,
  ScramMechanismCode,
  type AclBindingWire,
  type AclFilterWire,
  type AlterUserScramCredentialsRequest,
  type AlterUserScramCredentialsResponse,
  type CreateAclsRequest,
  type CreateAclsResponse,
  type DeleteAclsRequest,
  type DeleteAclsResponse,
  type DescribeAclsRequest,
  type DescribeAclsResponse,
  type DescribeUserScramCredentialsRequest,
  type DescribeUserScramCredentialsResponse,
} from '../../../client/protocol/messages/security.js'
import { credentialFromSaltedPassword, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN, SCRAM_SHA_256 } from '../../../client/protocol/scram.js'
import type { MetadataImage } from '../../metadata/image.js'
import type { AclRecord, MetadataRecord } from '../../metadata/records.js'
import { CLUSTER_RESOURCE, type Acl } from '../../security/authorizer.js'
import type { HandlerContext } from './context.js'

/** Longest principal, resource name and host an ACL may hold: far past any real one, and a bound on what one ACL costs every broker. */
export const ACL_FIELD_CHARS_MAX = 1024
/** ACLs a cluster may hold: each is a metadata record every broker keeps and every check may scan. */
export const ACLS_MAX = 10_000


/** The ACL a wire binding describes, or a sentence saying what is wrong with it. */
export function aclFromWire(w: AclBindingWire): Acl | string {
  const resourceType = nameOf(AclCodes.resourceType, w.resourceType)
  const patternType = nameOf(AclCodes.patternType, w.patternType)
  const operation = nameOf(AclCodes.operation, w.operation)
  const permission = nameOf(AclCodes.permission, w.permissionType)
  if (resourceType === undefined || resourceType === 'any') return `resource type ${w.resourceType} is not one of topic, group, cluster, transactional-id`
  if (patternType !== 'literal' && patternType !== 'prefixed') return `pattern type ${w.patternType} is not literal or prefixed`
  if (operation === undefined || operation === 'any') return `operation ${w.operation} is not a concrete operation`
  if (permission !== 'allow' && permission !== 'deny') return `permission ${w.permissionType} is not allow or deny`
  if (!/^User:.+/.test(w.principal)) return `principal "${w.principal}" must look like User:<name> (or User:*)`
  if (w.host === '') return 'host must be * or an address'
  if (w.resourceName === '') return 'resource name must not be empty'
  if (w.resourceName.length > ACL_FIELD_CHARS_MAX || w.principal.length > ACL_FIELD_CHARS_MAX || w.host.length > ACL_FIELD_CHARS_MAX) return `principal, resource name and host are at most ${ACL_FIELD_CHARS_MAX} characters`
  if (resourceType === 'cluster' && w.resourceName !== CLUSTER_RESOURCE) return `the cluster resource is named "${CLUSTER_RESOURCE}"`
  return { resourceType, resourceName: w.resourceName, patternType, principal: w.principal, host: w.host, operation, permission }
}

export function aclToWire(a: Acl): AclBindingWire {
  return {
    resourceType: AclCodes.resourceType[a.resourceType],
    resourceName: a.resourceName,
    patternType: AclCodes.patternType[a.patternType],
    principal: a.principal,
    host: a.host,
    operation: AclCodes.operation[a.operation],
    permissionType: AclCodes.permission[a.permission],
  }
}

/** Kafka's AclBindingFilter: null fields and `any` match everything; pattern `match` matches what would apply to the name. */
export function filterMatches(f: AclFilterWire, a: Acl): boolean {
  const w = aclToWire(a)
  if (f.resourceType !== AclCodes.resourceType.any && f.resourceType !== w.resourceType) return false
  if (f.principal !== null && f.principal !== a.principal) return false
  if (f.host !== null && f.host !== a.host) return false
  if (f.operation !== AclCodes.operation.any && f.operation !== w.operation) return false
  if (f.permissionType !== AclCodes.permission.any && f.permissionType !== w.permissionType) return false
  if (f.patternType === AclCodes.patternType.match) {
    if (f.resourceName === null) return true
    return a.patternType === 'prefixed' ? f.resourceName.startsWith(a.resourceName) : a.resourceName === f.resourceName || a.resourceName === '*'
  }
  if (f.patternType !== AclCodes.patternType.any && f.patternType !== w.patternType) return false
  return f.resourceName === null || f.resourceName === a.resourceName
}

function sameAcl(a: Acl, b: Acl): boolean {
  return a.resourceType === b.resourceType && a.resourceName === b.resourceName && a.patternType === b.patternType && a.principal === b.principal && a.host === b.host && a.operation === b.operation && a.permission === b.permission
}

function aclsWithIds(image: MetadataImage): Array<{ id: string; acl: Acl }> {
  const out: Array<{ id: string; acl: Acl }> = []
  for (const [id, r] of image.aclRecords) {
    const acl = aclFromRecord(r)
    if (acl !== null) out.push({ id, acl })
  }
  return out
}

function aclFromRecord(r: AclRecord): Acl | null {
  const { id: _id, ...rest } = r
  const w = aclFromWire(aclToWire(rest as Acl))
  return typeof w === 'string' ? null : w
}

export function handleDescribeAcls(ctx: HandlerContext, req: DescribeAclsRequest): DescribeAclsResponse {
  try {
    const acls = aclsWithIds(ctx.quorum.image).filter(({ acl }) => filterMatches(req, acl)).map(({ acl }) => aclToWire(acl))
    return { errorCode: 0, errorMessage: null, acls }
  } catch (err) {
    return { errorCode: toWireCode(err), errorMessage: (err as Error).message, acls: [] }
  }
}

export async function handleCreateAcls(ctx: HandlerContext, req: CreateAclsRequest): Promise<CreateAclsResponse> {
  try {
    return await ctx.controller.change((image) => {
      const existing = aclsWithIds(image).map((e) => e.acl)
      const records: MetadataRecord[] = []
      const results = req.creations.map((w) => {
        const acl = aclFromWire(w)
        if (typeof acl === 'string') return { errorCode: errorCodeOf('INVALID_REQUEST'), errorMessage: `Invalid ACL: ${acl}.` }
        if (existing.length >= ACLS_MAX && !existing.some((e) => sameAcl(e, acl))) return { errorCode: errorCodeOf('POLICY_VIOLATION'), errorMessage: `The cluster holds ${ACLS_MAX} ACLs, the most it takes; use prefixes or wildcards.` }
        // Creating an ACL that exists already succeeds and changes nothing, as in Kafka.
        if (!existing.some((e) => sameAcl(e, acl))) {
          existing.push(acl)
          records.push({ kind: 'acl', record: { id: randomUUID(), ...acl } })
        }
        return { errorCode: 0, errorMessage: null }
      })
      return { records, result: { results } }
    })
  } catch (err) {
    return { results: req.creations.map(() => ({ errorCode: toWireCode(err), errorMessage: (err as Error).message })) }
  }
}

export async function handleDeleteAcls(ctx: HandlerContext, req: DeleteAclsRequest): Promise<DeleteAclsResponse> {
  try {
    return await ctx.controller.change((image) => {
      const all = aclsWithIds(image)
      const removed = new Set<string>()
      const filterResults = req.filters.map((f) => {
        const matching = all.filter((e) => filterMatches(f, e.acl))
        for (const m of matching) removed.add(m.id)
        return { errorCode: 0, errorMessage: null, matchingAcls: matching.map((m) => aclToWire(m.acl)) }
      })
      return { records: [...removed].map((id): MetadataRecord => ({ kind: 'removeAcl', record: { id } })), result: { filterResults } }
    })
  } catch (err) {
    return { filterResults: req.filters.map(() => ({ errorCode: toWireCode(err), errorMessage: (err as Error).message, matchingAcls: [] })) }
  }
}

export function handleDescribeUserScramCredentials(ctx: HandlerContext, req: DescribeUserScramCredentialsRequest): DescribeUserScramCredentialsResponse {
  const image = ctx.quorum.image
  const names = req.users === null ? [...image.scramCredentials.keys()].sort() : req.users.map((u) => u.name)
  const results = names.map((user) => {
    const byMechanism = image.scramCredentials.get(user)
    if (byMechanism === undefined) return { user, errorCode: errorCodeOf('RESOURCE_NOT_FOUND'), errorMessage: `No SCRAM credential for user "${user}".`, credentialInfos: [] }
    const credentialInfos = [...byMechanism.values()].map((c) => ({ mechanism: ScramMechanismCode['SCRAM-SHA-256'], iterations: c.iterations }))
    return { user, errorCode: 0, errorMessage: null, credentialInfos }
  })
  return { errorCode: 0, errorMessage: null, results }
}

type Upsertion = AlterUserScramCredentialsRequest['upsertions'][number]

/** Why an upsertion cannot be stored, or null. */
function upsertionProblem(u: Upsertion, reservedUser: string | null): { code: WireErrorName; message: string } | null {
  if (u.name === '') return { code: 'UNACCEPTABLE_CREDENTIAL', message: 'The user name must not be empty.' }
  if (u.name === reservedUser) return { code: 'UNACCEPTABLE_CREDENTIAL', message: `"${u.name}" is the brokers' own user (inter.broker.sasl.username), set in their config.` }
  if (u.mechanism !== ScramMechanismCode['SCRAM-SHA-256']) return { code: 'UNSUPPORTED_SASL_MECHANISM', message: `Mechanism ${u.mechanism} is not supported; use ${SCRAM_SHA_256}.` }
  if (u.iterations < SCRAM_ITERATIONS_MIN || u.iterations > SCRAM_ITERATIONS_MAX) return { code: 'UNACCEPTABLE_CREDENTIAL', message: `Iterations must be from ${SCRAM_ITERATIONS_MIN} to ${SCRAM_ITERATIONS_MAX}, got ${u.iterations}.` }
  if (u.salt.length === 0 || u.salt.length > 1024) return { code: 'UNACCEPTABLE_CREDENTIAL', message: 'The salt must hold 1 to 1024 bytes.' }
  if (u.saltedPassword.length !== 32) return { code: 'UNACCEPTABLE_CREDENTIAL', message: 'The salted password must be 32 bytes (SHA-256).' }
  return null
}

export async function handleAlterUserScramCredentials(ctx: HandlerContext, req: AlterUserScramCredentialsRequest): Promise<AlterUserScramCredentialsResponse> {
  const names = [...req.upsertions.map((u) => u.name), ...req.deletions.map((d) => d.name)]
  const duplicated = new Set(names.filter((n, i) => names.indexOf(n) !== i))
  const reserved = ctx.config.interBrokerSaslUsername === '' ? null : ctx.config.interBrokerSaslUsername
  try {
    return await ctx.controller.change((image) => {
      const records: MetadataRecord[] = []
      const results: AlterUserScramCredentialsResponse['results'] = []
      const fail = (user: string, code: WireErrorName, message: string): void => void results.push({ user, errorCode: errorCodeOf(code), errorMessage: message })
      for (const d of req.deletions) {
        if (duplicated.has(d.name)) fail(d.name, 'DUPLICATE_RESOURCE', `User "${d.name}" appears more than once in the request.`)
        else if (d.mechanism !== ScramMechanismCode['SCRAM-SHA-256'] || image.scramCredentials.get(d.name)?.has(SCRAM_SHA_256) !== true) fail(d.name, 'RESOURCE_NOT_FOUND', `No SCRAM credential for user "${d.name}".`)
        else {
          records.push({ kind: 'removeScramCredential', record: { name: d.name, mechanism: SCRAM_SHA_256 } })
          results.push({ user: d.name, errorCode: 0, errorMessage: null })
        }
      }
      for (const u of req.upsertions) {
        const problem = duplicated.has(u.name) ? { code: 'DUPLICATE_RESOURCE' as const, message: `User "${u.name}" appears more than once in the request.` } : upsertionProblem(u, reserved)
        if (problem !== null) {
          fail(u.name, problem.code, problem.message)
          continue
        }
        const c = credentialFromSaltedPassword(u.saltedPassword, u.salt, u.iterations)
        records.push({ kind: 'scramCredential', record: { name: u.name, mechanism: SCRAM_SHA_256, salt: c.salt, iterations: c.iterations, storedKey: c.storedKey, serverKey: c.serverKey } })
        results.push({ user: u.name, errorCode: 0, errorMessage: null })
      }
      return { records, result: { results } }
    })
  } catch (err) {
    return { results: names.map((user) => ({ user, errorCode: toWireCode(err), errorMessage: (err as Error).message })) }
  }
}
