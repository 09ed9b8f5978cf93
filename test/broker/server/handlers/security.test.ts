// The ACL admin handlers' pure parts: which wire bindings CreateAcls accepts (aclFromWire), and
// which ACLs a DescribeAcls / DeleteAcls filter selects (filterMatches), with Kafka's
// AclBindingFilter semantics: `any` codes and null fields match everything, a literal or
// prefixed pattern matches ACLs of that pattern and exactly that name, and `match` selects the
// ACLs that would apply to the named resource (the same literal, the literal `*`, and every
// prefix of the name).

import t from 'tap'
import { AclCodes, type AclBindingWire, type AclFilterWire } from '../../../../client/protocol/messages/security.js'
import type { Acl } from '../../../../broker/security/authorizer.js'
import { aclFromWire, aclToWire, filterMatches } from '../../../../broker/server/handlers/security.js'

const VALID: AclBindingWire = {
  resourceType: AclCodes.resourceType.topic,
  resourceName: 'orders',
  patternType: AclCodes.patternType.literal,
  principal: 'User:alice',
  host: '*',
  operation: AclCodes.operation.read,
  permissionType: AclCodes.permission.allow,
}

t.test('aclFromWire accepts a concrete binding and round-trips it', async (t) => {
  const parsed = aclFromWire(VALID)
  t.same(parsed, { resourceType: 'topic', resourceName: 'orders', patternType: 'literal', principal: 'User:alice', host: '*', operation: 'read', permission: 'allow' })
  t.same(aclToWire(parsed as Acl), VALID)
  t.type(aclFromWire({ ...VALID, principal: 'User:*', resourceName: '*' }), 'object', 'wildcards are concrete')
  t.type(aclFromWire({ ...VALID, patternType: AclCodes.patternType.prefixed, resourceName: 'pay.' }), 'object')
  t.type(aclFromWire({ ...VALID, resourceType: AclCodes.resourceType.cluster, resourceName: 'kafka-cluster', operation: AclCodes.operation.cluster_action }), 'object')
  t.type(aclFromWire({ ...VALID, host: '10.0.0.7', permissionType: AclCodes.permission.deny, operation: AclCodes.operation.all }), 'object')
})

t.test('aclFromWire refuses filters-only codes, unknown codes and empty or malformed fields', async (t) => {
  const invalid: Array<[string, Partial<AclBindingWire>, RegExp]> = [
    ['resource type any', { resourceType: AclCodes.resourceType.any }, /resource type/],
    ['resource type 0 (unknown)', { resourceType: 0 }, /resource type/],
    ['resource type 99', { resourceType: 99 }, /resource type/],
    ['pattern any', { patternType: AclCodes.patternType.any }, /pattern type/],
    ['pattern match', { patternType: AclCodes.patternType.match }, /pattern type/],
    ['pattern 0', { patternType: 0 }, /pattern type/],
    ['operation any', { operation: AclCodes.operation.any }, /operation/],
    ['operation 99', { operation: 99 }, /operation/],
    ['permission any', { permissionType: AclCodes.permission.any }, /permission/],
    ['permission 0', { permissionType: 0 }, /permission/],
    ['principal without a type', { principal: 'alice' }, /principal/],
    ['principal with an empty name', { principal: 'User:' }, /principal/],
    ['principal of another type', { principal: 'Group:ops' }, /principal/],
    ['empty host', { host: '' }, /host/],
    ['empty resource name', { resourceName: '' }, /resource name/],
    ['a cluster not named kafka-cluster', { resourceType: AclCodes.resourceType.cluster, resourceName: 'other' }, /kafka-cluster/],
  ]
  for (const [what, change, why] of invalid) {
    const r = aclFromWire({ ...VALID, ...change })
    t.type(r, 'string', what)
    t.match(r, why, `${what}: says why`)
  }
})

function acl(fields: Partial<Acl> = {}): Acl {
  return { resourceType: 'topic', resourceName: 'orders', patternType: 'literal', principal: 'User:alice', host: '*', operation: 'read', permission: 'allow', ...fields }
}

/** A filter that matches everything; each case narrows one field. */
const ANY: AclFilterWire = {
  resourceType: AclCodes.resourceType.any,
  resourceName: null,
  patternType: AclCodes.patternType.any,
  principal: null,
  host: null,
  operation: AclCodes.operation.any,
  permissionType: AclCodes.permission.any,
}

t.test('filterMatches: any and null match everything; each concrete field narrows', async (t) => {
  const all = [acl(), acl({ resourceType: 'group', resourceName: 'g' }), acl({ patternType: 'prefixed', resourceName: 'pay.' }), acl({ principal: 'User:*', host: '10.0.0.7', operation: 'all', permission: 'deny' })]
  for (const a of all) t.ok(filterMatches(ANY, a), `the empty filter matches ${JSON.stringify(a)}`)

  t.ok(filterMatches({ ...ANY, resourceType: AclCodes.resourceType.topic }, acl()))
  t.notOk(filterMatches({ ...ANY, resourceType: AclCodes.resourceType.group }, acl()))
  t.ok(filterMatches({ ...ANY, principal: 'User:alice' }, acl()))
  t.notOk(filterMatches({ ...ANY, principal: 'User:bob' }, acl()))
  t.notOk(filterMatches({ ...ANY, principal: 'User:alice' }, acl({ principal: 'User:*' })), 'a principal filter is exact: User:alice does not select User:* ACLs')
  t.ok(filterMatches({ ...ANY, host: '*' }, acl()))
  t.notOk(filterMatches({ ...ANY, host: '10.0.0.7' }, acl()), 'a host filter is exact too')
  t.ok(filterMatches({ ...ANY, operation: AclCodes.operation.read }, acl()))
  t.notOk(filterMatches({ ...ANY, operation: AclCodes.operation.describe }, acl()), 'read implies describe in decisions, not in filters')
  t.notOk(filterMatches({ ...ANY, operation: AclCodes.operation.read }, acl({ operation: 'all' })), 'nor does all match read in a filter')
  t.ok(filterMatches({ ...ANY, permissionType: AclCodes.permission.allow }, acl()))
  t.notOk(filterMatches({ ...ANY, permissionType: AclCodes.permission.deny }, acl()))
})

t.test('filterMatches: literal, prefixed and any patterns select exactly the named ACLs', async (t) => {
  const literal = acl({ resourceName: 'pay.in' })
  const star = acl({ resourceName: '*' })
  const prefixed = acl({ patternType: 'prefixed', resourceName: 'pay.' })

  const byLiteral = { ...ANY, patternType: AclCodes.patternType.literal, resourceName: 'pay.in' }
  t.ok(filterMatches(byLiteral, literal))
  t.notOk(filterMatches(byLiteral, star), 'a literal filter does not select the `*` ACL')
  t.notOk(filterMatches(byLiteral, prefixed))
  t.ok(filterMatches({ ...byLiteral, resourceName: '*' }, star), 'a literal `*` filter selects the `*` ACL itself')
  t.notOk(filterMatches({ ...byLiteral, resourceName: '*' }, literal), 'and only it')

  const byPrefixed = { ...ANY, patternType: AclCodes.patternType.prefixed, resourceName: 'pay.' }
  t.ok(filterMatches(byPrefixed, prefixed))
  t.notOk(filterMatches(byPrefixed, literal), 'a prefixed filter does not select literal ACLs under it')
  t.notOk(filterMatches({ ...byPrefixed, resourceName: 'pay' }, prefixed), 'nor prefixed ACLs with another prefix')

  const byAny = { ...ANY, resourceName: 'pay.' }
  t.ok(filterMatches(byAny, prefixed), 'pattern any with a name selects that exact name, whatever the pattern')
  t.ok(filterMatches(byAny, acl({ resourceName: 'pay.' })))
  t.notOk(filterMatches(byAny, literal))
})

t.test('filterMatches: match selects the ACLs that apply to the named resource', async (t) => {
  const byMatch = { ...ANY, patternType: AclCodes.patternType.match, resourceName: 'pay.in' }
  t.ok(filterMatches(byMatch, acl({ resourceName: 'pay.in' })), 'the same literal name')
  t.ok(filterMatches(byMatch, acl({ resourceName: '*' })), 'the literal `*`')
  t.ok(filterMatches(byMatch, acl({ patternType: 'prefixed', resourceName: 'pay.' })), 'a prefix of the name')
  t.ok(filterMatches(byMatch, acl({ patternType: 'prefixed', resourceName: 'pay.in' })), 'the whole name as a prefix')
  t.notOk(filterMatches(byMatch, acl({ patternType: 'prefixed', resourceName: 'pay.inbound' })), 'not a prefix longer than the name')
  t.notOk(filterMatches(byMatch, acl({ resourceName: 'pay.' })), 'not a literal that is only a prefix')
  t.ok(filterMatches(byMatch, acl({ resourceName: 'pay.in', resourceType: 'group' })), 'with resource type any, a group of that name too')
  t.ok(filterMatches({ ...byMatch, resourceName: null }, acl({ resourceName: 'x' })), 'match without a name selects every name')
  t.notOk(filterMatches({ ...byMatch, resourceType: AclCodes.resourceType.topic }, acl({ resourceType: 'group', resourceName: 'pay.in' })), 'the resource type still narrows')
})
