// Authorization: the one `authorize(principal, host, operation, resource)` every request passes
// through (request-auth.ts applies it per API). ACLs are metadata records (records.ts), so every
// broker decides alike, and they survive restarts and controller changes with the rest of the
// image.
//
// The rules are Kafka's AclAuthorizer's:
// - Super users (`super.users`, and the brokers' own SASL user) may do anything.
// - A deny ACL that matches wins over any allow.
// - An allow of read, write, delete or alter implies describe; alter_configs implies
//   describe_configs; `all` matches every operation.
// - A principal `User:*` and a host `*` match everyone; a literal resource name `*` matches every
//   resource of its type; a prefixed name matches every name that starts with it.
// - With no ACL at all and `authorizer.enabled=false`, everything is allowed (an open cluster
//   stays open), except, where the listener authenticates, cluster_action and alter on the
//   cluster: broker-to-broker APIs, and changes to users and ACLs, then need a super user (or an
//   ACL) even before the first ACL exists, so no user can reset a super user's password or lock
//   the others out with a first ACL of their own. Kafka's authorizeByResourceType rule applies to
//   "some resource of a type" (an idempotent producer's write on some topic): a deny on `*` wins.

export const RESOURCE_TYPES = ['topic', 'group', 'cluster', 'transactional-id'] as const
export const OPERATIONS = ['all', 'read', 'write', 'create', 'delete', 'alter', 'describe', 'cluster_action', 'describe_configs', 'alter_configs', 'idempotent_write'] as const
export const PATTERN_TYPES = ['literal', 'prefixed'] as const
export const PERMISSIONS = ['allow', 'deny'] as const

export type ResourceType = (typeof RESOURCE_TYPES)[number]
export type Operation = (typeof OPERATIONS)[number]
export type PatternType = (typeof PATTERN_TYPES)[number]
export type Permission = (typeof PERMISSIONS)[number]

/** The name of the one cluster resource, as in Kafka. */
export const CLUSTER_RESOURCE = 'kafka-cluster'
/** Decisions remembered between ACL changes; the cache is emptied when full. */
const DECISIONS_CACHED_MAX = 10_000
/**
 * Decisions are cached only for names up to this long (topic names stop at 249): the key holds
 * the name, and names longer than any real resource's would make the cache a memory sink.
 */
const CACHED_NAME_CHARS_MAX = 255

export interface Acl {
  resourceType: ResourceType
  resourceName: string
  patternType: PatternType
  principal: string
  host: string
  operation: Operation
  permission: Permission
}

export interface Resource {
  type: ResourceType
  name: string
}

/** What the authorizer reads: the image's ACLs, with a version that changes whenever they do. */
export interface AclSource {
  readonly aclVersion: number
  acls(): Iterable<Acl>
}

export interface AuthorizerOptions {
  superUsers: readonly string[]
  /** authorizer.enabled: deny by default even with no ACL. */
  enabled: boolean
  /** True when the listener authenticates (SASL or mTLS): cluster_action is always checked. */
  clusterActionEnforced: boolean
  source: AclSource
}

/** Operations whose allow also allows `op`. */
function allowsOperation(aclOp: Operation, op: Operation): boolean {
  if (aclOp === op || aclOp === 'all') return true
  if (op === 'describe') return aclOp === 'read' || aclOp === 'write' || aclOp === 'delete' || aclOp === 'alter'
  if (op === 'describe_configs') return aclOp === 'alter_configs'
  return false
}

function matchesResource(acl: Acl, resource: Resource): boolean {
  if (acl.resourceType !== resource.type) return false
  if (acl.patternType === 'prefixed') return resource.name.startsWith(acl.resourceName)
  return acl.resourceName === '*' || acl.resourceName === resource.name
}

function matchesWho(acl: Acl, principal: string, host: string): boolean {
  return (acl.principal === principal || acl.principal === 'User:*') && (acl.host === '*' || acl.host === host)
}

export class Authorizer {
  readonly #superUsers: ReadonlySet<string>
  readonly #options: AuthorizerOptions
  /** Decisions keyed by principal, host, operation and resource; valid for #cachedVersion. */
  #decisions = new Map<string, boolean>()
  #cachedVersion = -1
  /** Whether ACLs are in force (enabled, or any ACL exists), as of #cachedVersion. */
  #active = false

  constructor(options: AuthorizerOptions) {
    this.#options = options
    this.#superUsers = new Set(options.superUsers)
  }

  isSuperUser(principal: string): boolean {
    return this.#superUsers.has(principal)
  }

  /** True when `principal` connecting from `host` may perform `op` on `resource`. */
  authorize(principal: string, host: string, op: Operation, resource: Resource): boolean {
    if (this.#superUsers.has(principal)) return true
    this.#refresh()
    // An open cluster answers without a cache key: every Produce and Fetch passes here.
    if (!this.#active && !this.#guarded(op, resource)) return true
    if (resource.name.length > CACHED_NAME_CHARS_MAX || principal.length > CACHED_NAME_CHARS_MAX) return this.#decide(principal, host, op, resource)
    const key = `${principal}\u0000${host}\u0000${op}\u0000${resource.type}\u0000${resource.name}`
    let decision = this.#decisions.get(key)
    if (decision === undefined) {
      decision = this.#decide(principal, host, op, resource)
      this.#decisions.set(key, decision)
    }
    return decision
  }

  /** True when `principal` may perform `op` on at least one resource of `type` (Kafka's authorizeByResourceType). */
  authorizeAny(principal: string, host: string, op: Operation, type: ResourceType): boolean {
    this.#refresh()
    if (this.#superUsers.has(principal) || !this.#active) return true
    for (const acl of this.#options.source.acls()) {
      if (acl.resourceType !== type || acl.permission !== 'allow' || !matchesWho(acl, principal, host) || !allowsOperation(acl.operation, op)) continue
      // Usable unless a deny covers the allowed name itself: a literal name, or a prefix (a deny on
      // `*` or on a shorter prefix covers every name the prefix allows).
      if (this.authorize(principal, host, op, { type, name: acl.resourceName })) return true
    }
    return false
  }

  /** Empties the decisions and recomputes #active when the ACLs changed (or the cache is full). */
  #refresh(): void {
    const source = this.#options.source
    if (source.aclVersion === this.#cachedVersion && this.#decisions.size < DECISIONS_CACHED_MAX) return
    this.#decisions.clear()
    this.#cachedVersion = source.aclVersion
    this.#active = this.#options.enabled || !source.acls()[Symbol.iterator]().next().done
  }

  /** Checked even with no ACL where the listener authenticates: broker-to-broker APIs, users and ACLs. */
  #guarded(op: Operation, resource: Resource): boolean {
    return this.#options.clusterActionEnforced && resource.type === 'cluster' && (op === 'cluster_action' || op === 'alter')
  }

  #decide(principal: string, host: string, op: Operation, resource: Resource): boolean {
    if (!this.#active && !this.#guarded(op, resource)) return true
    let allowed = false
    for (const acl of this.#options.source.acls()) {
      if (!matchesResource(acl, resource) || !matchesWho(acl, principal, host)) continue
      if (acl.permission === 'deny') {
        if (acl.operation === op || acl.operation === 'all') return false
      } else if (allowsOperation(acl.operation, op)) {
        allowed = true
      }
    }
    return allowed
  }
}
