// `strand users create|delete|list` (SCRAM-SHA-256 users) and `strand acls add|remove|list`, with
// the flag shapes of Kafka's kafka-acls.sh: one ACL per principal x operation x resource named,
// so `--allow-principal User:alice --operation Read --topic orders --group billing` allows alice
// to read the topic and to use the group.

import { readFileSync } from 'node:fs'
import type { AclBinding, AclFilter, AclOperation, AclPatternType, AclResourceType } from '../admin-security.js'
import { parse, positiveInt, table, toJson, UsageError, type Connect } from './args.js'

export const USERS_USAGE = `Usage:
  strand users list
  strand users create <name> (--password P | --password-stdin) [--iterations N]
                                              a SCRAM-SHA-256 user; only a salted hash reaches the cluster
  strand users delete <name>`

export const ACLS_USAGE = `Usage:
  strand acls add    (--allow-principal P | --deny-principal P)... --operation OP... RESOURCE...
                     [--resource-pattern-type literal|prefixed] [--allow-host H | --deny-host H]
  strand acls remove [--allow-principal P | --deny-principal P]... [--operation OP]... [RESOURCE...]
                     [--resource-pattern-type literal|prefixed]     every ACL matching the filters
  strand acls list   [--principal P] [--topic T | --group G | --cluster | --transactional-id ID]
  RESOURCE: --topic T, --group G, --cluster, --transactional-id ID (T, G, ID may be *)
  P: User:<name>, User:CN=... (a certificate's subject), or User:*
  OP: Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs,
      IdempotentWrite, All`

type Out = (text: string) => void

const USERS_OPTIONS = {
  password: { type: 'string' },
  'password-stdin': { type: 'boolean', default: false },
  iterations: { type: 'string' },
} as const

const ACLS_OPTIONS = {
  'allow-principal': { type: 'string', multiple: true },
  'deny-principal': { type: 'string', multiple: true },
  principal: { type: 'string' },
  operation: { type: 'string', multiple: true },
  topic: { type: 'string', multiple: true },
  group: { type: 'string', multiple: true },
  'transactional-id': { type: 'string', multiple: true },
  cluster: { type: 'boolean', default: false },
  'resource-pattern-type': { type: 'string' },
  'allow-host': { type: 'string' },
  'deny-host': { type: 'string' },
} as const

const OPERATIONS: Record<string, AclOperation> = {
  read: 'read',
  write: 'write',
  create: 'create',
  delete: 'delete',
  alter: 'alter',
  describe: 'describe',
  clusteraction: 'cluster_action',
  describeconfigs: 'describe_configs',
  alterconfigs: 'alter_configs',
  idempotentwrite: 'idempotent_write',
  all: 'all',
}

export async function usersCommand(argv: string[], connect: Connect, out: Out): Promise<void> {
  const { values, positionals } = parse(argv, USERS_OPTIONS)
  const [action, name, ...extra] = positionals
  if (values.help || action === undefined) return out(USERS_USAGE)
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}".`)
  const needName = (): string => {
    if (name === undefined || name === '') throw new UsageError(`strand users ${action} needs a user name.`)
    return name
  }
  if (action !== 'list' && action !== 'create' && action !== 'delete') throw new UsageError(`Unknown action "${action}"; expected list, create or delete.`)
  const password = action === 'create' ? passwordOf(values) : ''
  const user = action === 'list' ? '' : needName()
  const strand = connect(values)
  try {
    const admin = strand.admin()
    if (action === 'list') {
      const users = await admin.listUsers()
      return out(values.json ? toJson({ users }) : table(['USER', 'MECHANISM', 'ITERATIONS'], users.flatMap((u) => u.mechanisms.map((m) => [u.name, m.mechanism, m.iterations]))))
    }
    if (action === 'create') {
      const iterations = positiveInt('iterations', values.iterations, 4096)
      await admin.upsertUser({ name: user, password, iterations })
      return out(values.json ? toJson({ created: user }) : `Created (or updated) SCRAM-SHA-256 user ${user}.`)
    }
    await admin.deleteUser(user)
    return out(values.json ? toJson({ deleted: user }) : `Deleted user ${user}.`)
  } finally {
    await strand.close()
  }
}

function passwordOf(values: { password?: string | undefined; 'password-stdin'?: boolean | undefined }): string {
  if (values.password !== undefined && values['password-stdin'] === true) throw new UsageError('Give --password or --password-stdin, not both.')
  const password = values['password-stdin'] === true ? (readFileSync(0, 'utf8').split(/\r?\n/)[0] ?? '') : values.password
  if (password === undefined || password === '') throw new UsageError('strand users create needs --password P or --password-stdin (a non-empty password).')
  return password
}

function operationOf(raw: string): AclOperation {
  const op = OPERATIONS[raw.toLowerCase().replace(/[_-]/g, '')]
  if (op === undefined) throw new UsageError(`Unknown operation "${raw}"; expected one of Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, All.`)
  return op
}

function patternOf(raw: string | undefined): AclPatternType | undefined {
  if (raw === undefined) return undefined
  const p = raw.toLowerCase()
  if (p !== 'literal' && p !== 'prefixed') throw new UsageError(`--resource-pattern-type must be literal or prefixed, got "${raw}".`)
  return p
}

type AclValues = ReturnType<typeof parse<typeof ACLS_OPTIONS>>['values']

function resourcesOf(values: AclValues): Array<{ resourceType: AclResourceType; resourceName: string }> {
  return [
    ...(values.topic ?? []).map((n) => ({ resourceType: 'topic' as const, resourceName: n })),
    ...(values.group ?? []).map((n) => ({ resourceType: 'group' as const, resourceName: n })),
    ...(values['transactional-id'] ?? []).map((n) => ({ resourceType: 'transactional-id' as const, resourceName: n })),
    ...(values.cluster === true ? [{ resourceType: 'cluster' as const, resourceName: 'kafka-cluster' }] : []),
  ]
}

function principalsOf(values: AclValues): Array<{ principal: string; permission: 'allow' | 'deny' }> {
  const check = (p: string): string => {
    if (!/^User:.+/.test(p)) throw new UsageError(`A principal looks like User:<name>, got "${p}".`)
    return p
  }
  return [
    ...(values['allow-principal'] ?? []).map((p) => ({ principal: check(p), permission: 'allow' as const })),
    ...(values['deny-principal'] ?? []).map((p) => ({ principal: check(p), permission: 'deny' as const })),
  ]
}

/** One binding per principal x operation x resource. */
function bindingsOf(values: AclValues): AclBinding[] {
  const principals = principalsOf(values)
  const operations = (values.operation ?? []).map(operationOf)
  const resources = resourcesOf(values)
  if (principals.length === 0) throw new UsageError('strand acls add needs --allow-principal or --deny-principal.')
  if (operations.length === 0) throw new UsageError('strand acls add needs --operation.')
  if (resources.length === 0) throw new UsageError('strand acls add needs a resource: --topic, --group, --cluster or --transactional-id.')
  const patternType = patternOf(values['resource-pattern-type']) ?? 'literal'
  const bindings: AclBinding[] = []
  for (const p of principals) {
    const host = (p.permission === 'allow' ? values['allow-host'] : values['deny-host']) ?? '*'
    for (const operation of operations) for (const r of resources) bindings.push({ ...p, operation, ...r, patternType, host })
  }
  return bindings
}

/** The filters of `acls remove`: absent parts match any. */
function filtersOf(values: AclValues): AclFilter[] {
  const principals: Array<Partial<{ principal: string; permission: 'allow' | 'deny' }>> = principalsOf(values)
  const operations: Array<AclOperation | undefined> = (values.operation ?? []).map(operationOf)
  const resources: Array<Partial<{ resourceType: AclResourceType; resourceName: string }>> = resourcesOf(values)
  const patternType = patternOf(values['resource-pattern-type'])
  const filters: AclFilter[] = []
  for (const p of principals.length > 0 ? principals : [{}]) {
    for (const operation of operations.length > 0 ? operations : [undefined]) {
      for (const r of resources.length > 0 ? resources : [{}]) filters.push({ ...p, ...(operation === undefined ? {} : { operation }), ...r, ...(patternType === undefined ? {} : { patternType }) })
    }
  }
  return filters
}

function aclRows(acls: ReadonlyArray<Required<AclBinding>>): string {
  return table(['PRINCIPAL', 'PERMISSION', 'OPERATION', 'RESOURCE', 'NAME', 'PATTERN', 'HOST'], acls.map((a) => [a.principal, a.permission, a.operation, a.resourceType, a.resourceName, a.patternType, a.host]))
}

export async function aclsCommand(argv: string[], connect: Connect, out: Out): Promise<void> {
  const { values, positionals } = parse(argv, ACLS_OPTIONS)
  const [action, ...extra] = positionals
  if (values.help || action === undefined) return out(ACLS_USAGE)
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}".`)
  if (action !== 'add' && action !== 'remove' && action !== 'list') throw new UsageError(`Unknown action "${action}"; expected add, remove or list.`)
  const bindings = action === 'add' ? bindingsOf(values) : []
  const filters = action === 'remove' ? filtersOf(values) : []
  const strand = connect(values)
  try {
    const admin = strand.admin()
    if (action === 'add') {
      await admin.createAcls(bindings)
      return out(values.json ? toJson({ added: bindings }) : `Added ${bindings.length} ACL${bindings.length === 1 ? '' : 's'}:\n${aclRows(bindings.map((b) => ({ patternType: 'literal', host: '*', permission: 'allow', ...b })))}`)
    }
    if (action === 'remove') {
      const removed = await admin.deleteAcls(filters)
      return out(values.json ? toJson({ removed }) : `Removed ${removed.length} ACL${removed.length === 1 ? '' : 's'}${removed.length > 0 ? `:\n${aclRows(removed)}` : '.'}`)
    }
    const resource = resourcesOf(values)[0]
    const acls = await admin.describeAcls({ ...(values.principal === undefined ? {} : { principal: values.principal }), ...(resource === undefined ? {} : { ...resource, patternType: 'match' as const }) })
    return out(values.json ? toJson({ acls }) : aclRows(acls))
  } finally {
    await strand.close()
  }
}
