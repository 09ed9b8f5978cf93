// The Authorizer's decisions, against an in-memory ACL source: super users, the open cluster with
// no ACL (and cluster_action on an authenticating listener), literal / `*` / prefixed names,
// `User:*` and hosts, deny over allow, the operations an allow implies (Kafka's AclAuthorizer
// table), the decision cache following aclVersion, and authorizeAny (KIP-679's "write on some
// topic").

import t from 'tap'
import { Authorizer, CLUSTER_RESOURCE, OPERATIONS, type Acl, type AclSource, type Operation, type Resource } from '../../../broker/security/authorizer.js'

/** ACLs held in memory; `version` bumps aclVersion as the metadata image does on every ACL record. */
class MemoryAcls implements AclSource {
  aclVersion = 0
  list: Acl[] = []

  acls(): Iterable<Acl> {
    return this.list
  }

  /** Adds ACLs as one committed change: the version moves, so cached decisions are dropped. */
  add(...acls: Acl[]): void {
    this.list.push(...acls)
    this.aclVersion++
  }
}

function acl(fields: Partial<Acl> & Pick<Acl, 'principal' | 'operation' | 'resourceName'>): Acl {
  return { resourceType: 'topic', patternType: 'literal', host: '*', permission: 'allow', ...fields }
}

function authorizer(options: { acls?: Acl[]; enabled?: boolean; clusterActionEnforced?: boolean; superUsers?: string[] } = {}): { auth: Authorizer; source: MemoryAcls } {
  const source = new MemoryAcls()
  if (options.acls !== undefined && options.acls.length > 0) source.add(...options.acls)
  const auth = new Authorizer({ superUsers: options.superUsers ?? ['User:admin'], enabled: options.enabled ?? false, clusterActionEnforced: options.clusterActionEnforced ?? false, source })
  return { auth, source }
}

const HOST = '10.0.0.7'
const topic = (name: string): Resource => ({ type: 'topic', name })
const group = (name: string): Resource => ({ type: 'group', name })
const CLUSTER: Resource = { type: 'cluster', name: CLUSTER_RESOURCE }

t.test('a super user may do everything, even with ACLs that deny it and the authorizer on', async (t) => {
  const { auth } = authorizer({
    enabled: true,
    clusterActionEnforced: true,
    acls: [acl({ principal: 'User:admin', operation: 'all', resourceName: '*', permission: 'deny' }), acl({ principal: 'User:*', operation: 'all', resourceName: '*', permission: 'deny', resourceType: 'cluster' })],
  })
  t.ok(auth.isSuperUser('User:admin'))
  t.notOk(auth.isSuperUser('User:alice'))
  for (const op of OPERATIONS) {
    t.ok(auth.authorize('User:admin', HOST, op, topic('orders')), `${op} on a topic`)
    t.ok(auth.authorize('User:admin', HOST, op, CLUSTER), `${op} on the cluster`)
  }
  t.ok(auth.authorizeAny('User:admin', HOST, 'write', 'topic'))
})

t.test('with no ACL and the authorizer off, everything is allowed, except cluster_action on an authenticating listener', async (t) => {
  const open = authorizer({ enabled: false, clusterActionEnforced: false }).auth
  for (const op of OPERATIONS) t.ok(open.authorize('User:ANONYMOUS', HOST, op, op === 'cluster_action' ? CLUSTER : topic('orders')), `${op} is open`)
  t.ok(open.authorizeAny('User:ANONYMOUS', HOST, 'write', 'topic'))

  const authenticating = authorizer({ enabled: false, clusterActionEnforced: true }).auth
  t.notOk(authenticating.authorize('User:alice', HOST, 'cluster_action', CLUSTER), 'broker-to-broker APIs need a super user or an ACL even before the first ACL')
  t.ok(authenticating.authorize('User:admin', HOST, 'cluster_action', CLUSTER), 'a super user has it')
  for (const op of ['read', 'write', 'create', 'describe', 'alter', 'describe_configs'] as const) {
    t.ok(authenticating.authorize('User:alice', HOST, op, op === 'create' ? CLUSTER : topic('orders')), `${op} stays open`)
  }

  const granted = authorizer({ enabled: false, clusterActionEnforced: true, acls: [acl({ principal: 'User:broker-2', operation: 'cluster_action', resourceType: 'cluster', resourceName: CLUSTER_RESOURCE })] }).auth
  t.ok(granted.authorize('User:broker-2', HOST, 'cluster_action', CLUSTER), 'a cluster_action ACL grants it')
  t.notOk(granted.authorize('User:alice', HOST, 'cluster_action', CLUSTER))
})

t.test('once any ACL exists the authorizer is on, whatever authorizer.enabled says', async (t) => {
  const { auth } = authorizer({ enabled: false, acls: [acl({ principal: 'User:alice', operation: 'read', resourceName: 'orders' })] })
  t.ok(auth.authorize('User:alice', HOST, 'read', topic('orders')))
  t.notOk(auth.authorize('User:alice', HOST, 'read', topic('payments')), 'what no ACL allows is denied')
  t.notOk(auth.authorize('User:bob', HOST, 'read', topic('orders')))
})

t.test('with authorizer.enabled and no ACL, everything is denied', async (t) => {
  const { auth } = authorizer({ enabled: true })
  for (const op of OPERATIONS) t.notOk(auth.authorize('User:alice', HOST, op, topic('orders')), `${op} is denied`)
  t.notOk(auth.authorize('User:alice', HOST, 'describe', CLUSTER))
  t.notOk(auth.authorizeAny('User:alice', HOST, 'write', 'topic'))
})

t.test('resource names: literal, the literal `*`, and prefixed', async (t) => {
  const { auth } = authorizer({
    enabled: true,
    acls: [
      acl({ principal: 'User:alice', operation: 'read', resourceName: 'orders' }),
      acl({ principal: 'User:bob', operation: 'read', resourceName: '*' }),
      acl({ principal: 'User:carol', operation: 'read', resourceName: 'pay.', patternType: 'prefixed' }),
      acl({ principal: 'User:dave', operation: 'read', resourceName: '*', patternType: 'prefixed' }),
    ],
  })
  t.ok(auth.authorize('User:alice', HOST, 'read', topic('orders')), 'a literal name matches itself')
  t.notOk(auth.authorize('User:alice', HOST, 'read', topic('orders2')), 'and nothing longer')
  t.notOk(auth.authorize('User:alice', HOST, 'read', topic('order')), 'or shorter')
  t.notOk(auth.authorize('User:alice', HOST, 'read', group('orders')), 'nor a resource of another type with the same name')

  t.ok(auth.authorize('User:bob', HOST, 'read', topic('orders')), 'a literal `*` matches every topic')
  t.ok(auth.authorize('User:bob', HOST, 'read', topic('anything.at.all')))
  t.notOk(auth.authorize('User:bob', HOST, 'read', group('g1')), 'of its own type only')

  t.ok(auth.authorize('User:carol', HOST, 'read', topic('pay.in')), 'a prefix matches names that start with it')
  t.ok(auth.authorize('User:carol', HOST, 'read', topic('pay.')), 'including the prefix itself')
  t.notOk(auth.authorize('User:carol', HOST, 'read', topic('pays')))
  t.notOk(auth.authorize('User:carol', HOST, 'read', topic('PAY.in')), 'case matters')

  t.notOk(auth.authorize('User:dave', HOST, 'read', topic('orders')), 'a prefixed `*` is a prefix, not a wildcard')
  t.ok(auth.authorize('User:dave', HOST, 'read', topic('*weird')))
})

t.test('principals: `User:*` matches everyone, a named principal only itself', async (t) => {
  const { auth } = authorizer({
    enabled: true,
    acls: [acl({ principal: 'User:*', operation: 'describe', resourceName: 'public' }), acl({ principal: 'User:alice', operation: 'read', resourceName: 'private' })],
  })
  for (const p of ['User:alice', 'User:bob', 'User:ANONYMOUS', 'User:CN=client,O=Acme']) t.ok(auth.authorize(p, HOST, 'describe', topic('public')), p)
  t.ok(auth.authorize('User:alice', HOST, 'read', topic('private')))
  t.notOk(auth.authorize('User:bob', HOST, 'read', topic('private')))
  t.notOk(auth.authorize('User:alice2', HOST, 'read', topic('private')), 'no prefix match on principals')
  t.notOk(auth.authorize('alice', HOST, 'read', topic('private')), 'the principal type is part of the name')
})

t.test('hosts: an ACL with a host applies from that address only; `*` from anywhere', async (t) => {
  const { auth } = authorizer({
    enabled: true,
    acls: [
      acl({ principal: 'User:alice', operation: 'write', resourceName: 'orders', host: '10.0.0.7' }),
      acl({ principal: 'User:alice', operation: 'read', resourceName: 'orders', host: '*' }),
      acl({ principal: 'User:alice', operation: 'read', resourceName: 'orders', host: '10.0.0.66', permission: 'deny' }),
    ],
  })
  t.ok(auth.authorize('User:alice', '10.0.0.7', 'write', topic('orders')))
  t.notOk(auth.authorize('User:alice', '10.0.0.8', 'write', topic('orders')), 'from another host the allow does not apply')
  t.ok(auth.authorize('User:alice', '10.0.0.8', 'read', topic('orders')))
  t.notOk(auth.authorize('User:alice', '10.0.0.66', 'read', topic('orders')), 'a deny for one host applies from that host')
})

t.test('a matching deny beats any allow, whatever the order of the ACLs', async (t) => {
  const allowAll = acl({ principal: 'User:*', operation: 'all', resourceName: '*' })
  const denyBob = acl({ principal: 'User:bob', operation: 'read', resourceName: 'orders', permission: 'deny' })
  for (const acls of [[allowAll, denyBob], [denyBob, allowAll]]) {
    const { auth } = authorizer({ enabled: true, acls })
    t.notOk(auth.authorize('User:bob', HOST, 'read', topic('orders')), 'the denied operation is denied')
    t.ok(auth.authorize('User:bob', HOST, 'write', topic('orders')), 'a deny of read leaves write alone')
    t.ok(auth.authorize('User:bob', HOST, 'read', topic('payments')), 'and other resources alone')
    t.ok(auth.authorize('User:alice', HOST, 'read', topic('orders')), 'and other principals alone')
  }

  const denyAll = authorizer({
    enabled: true,
    acls: [acl({ principal: 'User:bob', operation: 'read', resourceName: 'orders' }), acl({ principal: 'User:bob', operation: 'write', resourceName: 'orders' }), acl({ principal: 'User:bob', operation: 'all', resourceName: 'orders', permission: 'deny' })],
  }).auth
  for (const op of OPERATIONS) t.notOk(denyAll.authorize('User:bob', HOST, op, topic('orders')), `a deny of all denies ${op}`)

  const prefixedDeny = authorizer({
    enabled: true,
    acls: [acl({ principal: 'User:bob', operation: 'read', resourceName: 'secret.keys' }), acl({ principal: 'User:*', operation: 'read', resourceName: 'secret.', patternType: 'prefixed', permission: 'deny' })],
  }).auth
  t.notOk(prefixedDeny.authorize('User:bob', HOST, 'read', topic('secret.keys')), 'a prefixed deny for everyone beats a literal allow for one')
})

t.test('an allow of read, write, delete or alter implies describe; create does not', async (t) => {
  for (const op of ['read', 'write', 'delete', 'alter', 'all'] as const) {
    const { auth } = authorizer({ enabled: true, acls: [acl({ principal: 'User:alice', operation: op, resourceName: 'orders' })] })
    t.ok(auth.authorize('User:alice', HOST, 'describe', topic('orders')), `${op} implies describe`)
  }
  for (const op of ['create', 'describe_configs', 'alter_configs', 'idempotent_write', 'cluster_action'] as const) {
    const { auth } = authorizer({ enabled: true, acls: [acl({ principal: 'User:alice', operation: op, resourceName: 'orders' })] })
    t.notOk(auth.authorize('User:alice', HOST, 'describe', topic('orders')), `${op} does not imply describe`)
  }
  const { auth } = authorizer({ enabled: true, acls: [acl({ principal: 'User:alice', operation: 'describe', resourceName: 'orders' })] })
  for (const op of ['read', 'write', 'delete', 'alter'] as const) t.notOk(auth.authorize('User:alice', HOST, op, topic('orders')), `describe does not imply ${op}`)
})

t.test('alter_configs implies describe_configs, not the other way round', async (t) => {
  const alter = authorizer({ enabled: true, acls: [acl({ principal: 'User:alice', operation: 'alter_configs', resourceName: 'orders' })] }).auth
  t.ok(alter.authorize('User:alice', HOST, 'describe_configs', topic('orders')))
  t.ok(alter.authorize('User:alice', HOST, 'alter_configs', topic('orders')))
  const describe = authorizer({ enabled: true, acls: [acl({ principal: 'User:alice', operation: 'describe_configs', resourceName: 'orders' })] }).auth
  t.ok(describe.authorize('User:alice', HOST, 'describe_configs', topic('orders')))
  t.notOk(describe.authorize('User:alice', HOST, 'alter_configs', topic('orders')))
  const describeOnly = authorizer({ enabled: true, acls: [acl({ principal: 'User:alice', operation: 'describe', resourceName: 'orders' })] }).auth
  t.notOk(describeOnly.authorize('User:alice', HOST, 'describe_configs', topic('orders')), 'describe is not describe_configs')
})

t.test('a deny of describe does not deny read (Kafka: a deny matches its own operation and all)', async (t) => {
  const { auth } = authorizer({
    enabled: true,
    acls: [acl({ principal: 'User:alice', operation: 'read', resourceName: 'orders' }), acl({ principal: 'User:alice', operation: 'describe', resourceName: 'orders', permission: 'deny' })],
  })
  t.ok(auth.authorize('User:alice', HOST, 'read', topic('orders')), 'read is still allowed')
  t.notOk(auth.authorize('User:alice', HOST, 'describe', topic('orders')), 'describe itself is denied, though read implies it')
  const configs = authorizer({
    enabled: true,
    acls: [acl({ principal: 'User:alice', operation: 'alter_configs', resourceName: 'orders' }), acl({ principal: 'User:alice', operation: 'describe_configs', resourceName: 'orders', permission: 'deny' })],
  }).auth
  t.ok(configs.authorize('User:alice', HOST, 'alter_configs', topic('orders')))
  t.notOk(configs.authorize('User:alice', HOST, 'describe_configs', topic('orders')))
})

t.test('cached decisions last until aclVersion changes', async (t) => {
  const { auth, source } = authorizer({ enabled: true })
  const ask = (): boolean => auth.authorize('User:alice', HOST, 'read', topic('orders'))
  t.notOk(ask(), 'denied with no ACL')

  // An ACL that appears without a version change is not seen: the decision is cached. This pins
  // down that the version is the cache's only key to freshness, which the image must keep bumping.
  source.list.push(acl({ principal: 'User:alice', operation: 'read', resourceName: 'orders' }))
  t.notOk(ask(), 'the cached decision stands while the version is unchanged')
  source.aclVersion++
  t.ok(ask(), 'a new version drops the cache: the ACL now allows')

  source.add(acl({ principal: 'User:alice', operation: 'read', resourceName: 'orders', permission: 'deny' }))
  t.notOk(ask(), 'a deny added later takes effect at the next version')

  source.list = source.list.filter((a) => a.permission !== 'deny')
  source.aclVersion++
  t.ok(ask(), 'and removing it does too')

  source.list = []
  source.aclVersion++
  t.notOk(ask(), 'with every ACL gone and authorizer.enabled, denied again')
})

t.test('removing the last ACL reopens a cluster whose authorizer.enabled is false', async (t) => {
  const { auth, source } = authorizer({ enabled: false, acls: [acl({ principal: 'User:alice', operation: 'read', resourceName: 'orders' })] })
  t.notOk(auth.authorize('User:bob', HOST, 'read', topic('orders')))
  source.list = []
  source.aclVersion++
  t.ok(auth.authorize('User:bob', HOST, 'read', topic('orders')), 'no ACL left: open again (Kafka with allow.everyone.if.no.acl.found)')
})

t.test('authorizeAny: may the principal do op on at least one resource of the type', async (t) => {
  const cases: Array<{ what: string; acls: Acl[]; op?: Operation; expected: boolean }> = [
    { what: 'a literal allow', acls: [acl({ principal: 'User:alice', operation: 'write', resourceName: 'orders' })], expected: true },
    { what: 'a prefixed allow', acls: [acl({ principal: 'User:alice', operation: 'write', resourceName: 'pay.', patternType: 'prefixed' })], expected: true },
    { what: 'an allow for User:*', acls: [acl({ principal: 'User:*', operation: 'write', resourceName: 'orders' })], expected: true },
    { what: 'an allow of all', acls: [acl({ principal: 'User:alice', operation: 'all', resourceName: 'orders' })], expected: true },
    { what: 'an implied operation (read implies describe)', acls: [acl({ principal: 'User:alice', operation: 'read', resourceName: 'orders' })], op: 'describe', expected: true },
    { what: 'a literal allow its own deny cancels', acls: [acl({ principal: 'User:alice', operation: 'write', resourceName: 'orders' }), acl({ principal: 'User:alice', operation: 'write', resourceName: 'orders', permission: 'deny' })], expected: false },
    { what: 'a literal allow a prefixed deny covers', acls: [acl({ principal: 'User:alice', operation: 'write', resourceName: 'pay.in' }), acl({ principal: 'User:*', operation: 'all', resourceName: 'pay.', patternType: 'prefixed', permission: 'deny' })], expected: false },
    { what: 'an allow for another principal', acls: [acl({ principal: 'User:bob', operation: 'write', resourceName: 'orders' })], expected: false },
    { what: 'an allow from another host', acls: [acl({ principal: 'User:alice', operation: 'write', resourceName: 'orders', host: '10.9.9.9' })], expected: false },
    { what: 'an allow of another operation', acls: [acl({ principal: 'User:alice', operation: 'read', resourceName: 'orders' })], expected: false },
    { what: 'an allow on another resource type', acls: [acl({ principal: 'User:alice', operation: 'write', resourceName: 'orders', resourceType: 'group' })], expected: false },
    { what: 'only deny ACLs', acls: [acl({ principal: 'User:alice', operation: 'write', resourceName: 'orders', permission: 'deny' })], expected: false },
  ]
  for (const c of cases) {
    const { auth } = authorizer({ enabled: true, acls: c.acls })
    t.equal(auth.authorizeAny('User:alice', HOST, c.op ?? 'write', 'topic'), c.expected, c.what)
  }
  t.ok(authorizer({ enabled: false }).auth.authorizeAny('User:alice', HOST, 'write', 'topic'), 'no ACL and the authorizer off: yes')
  t.notOk(authorizer({ enabled: true }).auth.authorizeAny('User:alice', HOST, 'write', 'topic'), 'no ACL and the authorizer on: no')
})


// As Kafka's authorizeByResourceType: a deny on the literal `*` (or a covering prefix) dominates a
// prefixed allow, so a principal denied write on every topic fails InitProducerId's "write on
// some topic" check (found in review).
t.test('a deny on every topic dominates a prefixed allow in authorizeAny', async (t) => {
  const { auth } = authorizer({
    enabled: true,
    acls: [acl({ principal: 'User:alice', operation: 'write', resourceName: 'pay.', patternType: 'prefixed' }), acl({ principal: 'User:alice', operation: 'write', resourceName: '*', permission: 'deny' })],
  })
  t.notOk(auth.authorize('User:alice', HOST, 'write', topic('pay.in')), 'no single topic is writable')
  t.notOk(auth.authorizeAny('User:alice', HOST, 'write', 'topic'), 'so no topic at all is')
})
