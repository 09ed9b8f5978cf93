// The admin client's users and ACLs (Admin delegates here): SCRAM users are created with a salt
// and salted password computed on this side, so the password never leaves the process; ACLs use
// authorizer names (`topic`, `read`, `allow`, `prefixed`) and Kafka's codes on the wire.

import { randomBytes } from 'node:crypto'
import type { Connection } from './net/connection.js'
import { InvalidArgumentError, wireError } from './errors.js'
import { ApiKey } from './protocol/apis.js'
import { AclCodes, aclCodeName, ScramMechanismCode, type AclBindingWire, type AclFilterWire } from './protocol/messages/security.js'
import { saltPassword, SCRAM_ITERATIONS_DEFAULT, SCRAM_SHA_256 } from './protocol/scram.js'

export type AclResourceType = Exclude<keyof typeof AclCodes.resourceType, 'any'>
export type AclOperation = Exclude<keyof typeof AclCodes.operation, 'any'>
export type AclPatternType = 'literal' | 'prefixed'
export type AclPermission = 'allow' | 'deny'

/** One ACL: `principal` may (or, with deny, may not) do `operation` on the named resource(s). */
export interface AclBinding {
  principal: string
  operation: AclOperation
  resourceType: AclResourceType
  /** A name, `*` for every resource of the type, or a prefix with patternType 'prefixed'; the cluster is 'kafka-cluster'. */
  resourceName: string
  /** Default 'literal'. */
  patternType?: AclPatternType
  /** Default '*': from any host. */
  host?: string
  /** Default 'allow'. */
  permission?: AclPermission
}

/** Matches ACLs; an absent field matches any. patternType 'match' finds the ACLs that apply to resourceName. */
export interface AclFilter {
  principal?: string
  operation?: AclOperation
  resourceType?: AclResourceType
  resourceName?: string
  patternType?: AclPatternType | 'match'
  host?: string
  permission?: AclPermission
}

export interface ScramUser {
  name: string
  mechanisms: Array<{ mechanism: typeof SCRAM_SHA_256; iterations: number }>
}

/**
 * How Admin routes a request: to the active controller, retrying while it moves. Reads go there
 * too, so a change is visible to the next read at once.
 */
export interface AdminRoutes {
  toController<T>(send: (conn: Connection) => Promise<T>): Promise<T>
}

function code<T extends Record<string, number>>(table: T, name: string | undefined, field: string): number {
  if (name === undefined) return 1 // every table's `any`
  const c = table[name]
  if (c === undefined) throw new InvalidArgumentError(`${field} must be one of ${Object.keys(table).filter((k) => k !== 'any').join(', ')}; got "${name}".`)
  return c
}

function nameOf<T extends Record<string, number>>(table: T, c: number): string {
  return String(aclCodeName(table, c) ?? `unknown(${c})`)
}

export function aclToWire(b: AclBinding): AclBindingWire {
  if (typeof b?.principal !== 'string' || typeof b.resourceName !== 'string') throw new InvalidArgumentError('An ACL needs principal, operation, resourceType and resourceName.')
  return {
    principal: b.principal,
    host: b.host ?? '*',
    resourceType: code(AclCodes.resourceType, b.resourceType, 'resourceType'),
    resourceName: b.resourceName,
    patternType: code(AclCodes.patternType, b.patternType ?? 'literal', 'patternType'),
    operation: code(AclCodes.operation, b.operation, 'operation'),
    permissionType: code(AclCodes.permission, b.permission ?? 'allow', 'permission'),
  }
}

export function aclFromWire(w: AclBindingWire): Required<AclBinding> {
  return {
    principal: w.principal,
    host: w.host,
    resourceType: nameOf(AclCodes.resourceType, w.resourceType) as AclResourceType,
    resourceName: w.resourceName,
    patternType: nameOf(AclCodes.patternType, w.patternType) as AclPatternType,
    operation: nameOf(AclCodes.operation, w.operation) as AclOperation,
    permission: nameOf(AclCodes.permission, w.permissionType) as AclPermission,
  }
}

export function filterToWire(f: AclFilter = {}): AclFilterWire {
  return {
    principal: f.principal ?? null,
    host: f.host ?? null,
    resourceType: code(AclCodes.resourceType, f.resourceType, 'resourceType'),
    resourceName: f.resourceName ?? null,
    patternType: code(AclCodes.patternType, f.patternType, 'patternType'),
    operation: code(AclCodes.operation, f.operation, 'operation'),
    permissionType: code(AclCodes.permission, f.permission, 'permission'),
  }
}

export async function createAcls(routes: AdminRoutes, acls: readonly AclBinding[]): Promise<void> {
  const creations = acls.map(aclToWire)
  const res = await routes.toController((c) => c.request(ApiKey.CreateAcls, { creations }))
  for (const [i, r] of res.results.entries()) {
    const err = wireError(r.errorCode, r.errorMessage, `ACL ${i + 1}`)
    if (err !== null) throw err
  }
}

export async function describeAcls(routes: AdminRoutes, filter?: AclFilter): Promise<Array<Required<AclBinding>>> {
  const body = filterToWire(filter)
  const res = await routes.toController((c) => c.request(ApiKey.DescribeAcls, body))
  const err = wireError(res.errorCode, res.errorMessage)
  if (err !== null) throw err
  return res.acls.map(aclFromWire)
}

/** Deletes every ACL matching any of `filters`; resolves with the ACLs deleted. */
export async function deleteAcls(routes: AdminRoutes, filters: readonly AclFilter[]): Promise<Array<Required<AclBinding>>> {
  const body = { filters: filters.map(filterToWire) }
  const res = await routes.toController((c) => c.request(ApiKey.DeleteAcls, body))
  const deleted: Array<Required<AclBinding>> = []
  for (const r of res.filterResults) {
    const err = wireError(r.errorCode, r.errorMessage)
    if (err !== null) throw err
    deleted.push(...r.matchingAcls.map(aclFromWire))
  }
  return deleted
}

/** Creates or replaces a SCRAM-SHA-256 user. */
export async function upsertScramUser(routes: AdminRoutes, user: { name: string; password: string; iterations?: number }): Promise<void> {
  if (typeof user?.name !== 'string' || user.name === '' || typeof user.password !== 'string' || user.password === '') throw new InvalidArgumentError('A user needs a non-empty name and password.')
  const iterations = user.iterations ?? SCRAM_ITERATIONS_DEFAULT
  const salt = randomBytes(32)
  const upsertion = { name: user.name, mechanism: ScramMechanismCode[SCRAM_SHA_256], iterations, salt, saltedPassword: saltPassword(user.password, salt, iterations) }
  await alterUsers(routes, { upsertions: [upsertion], deletions: [] })
}

export async function deleteScramUser(routes: AdminRoutes, name: string): Promise<void> {
  await alterUsers(routes, { upsertions: [], deletions: [{ name, mechanism: ScramMechanismCode[SCRAM_SHA_256] }] })
}

async function alterUsers(routes: AdminRoutes, body: Parameters<Connection['request']>[1] & { upsertions: unknown[]; deletions: unknown[] }): Promise<void> {
  const res = await routes.toController((c) => c.request(ApiKey.AlterUserScramCredentials, body as never))
  for (const r of res.results) {
    const err = wireError(r.errorCode, r.errorMessage, `user "${r.user}"`)
    if (err !== null) throw err
  }
}

export async function listScramUsers(routes: AdminRoutes): Promise<ScramUser[]> {
  const res = await routes.toController((c) => c.request(ApiKey.DescribeUserScramCredentials, { users: null }))
  const err = wireError(res.errorCode, res.errorMessage)
  if (err !== null) throw err
  return res.results.filter((r) => r.errorCode === 0).map((r) => ({ name: r.user, mechanisms: r.credentialInfos.map((c) => ({ mechanism: SCRAM_SHA_256, iterations: c.iterations })) }))
}
