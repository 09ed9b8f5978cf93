// `strand users` and `strand acls` as a user runs them, against a broker on TLS + SCRAM with the
// authorizer on, with credentials from --command-config and from STRAND_SASL_* variables.

import t from 'tap'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { tempDir } from '../helpers/broker-process.js'
import { strand } from '../helpers/cli.js'
import { TestCluster } from '../helpers/cluster.js'
import { secureSettings } from '../helpers/secure.js'

const secure = await secureSettings(t)
if ('unavailable' in secure) {
  t.plan(0, `CLI security tests need openssl: ${secure.unavailable}`)
} else {
  await t.test('users and ACLs from the command line', async (t) => {
    const cluster = await TestCluster.start(t, { size: 1, overrides: { ...secure.overrides, 'authorizer.enabled': true }, clientSecurity: { tls: secure.tls, sasl: secure.brokerSasl } })
    const dir = tempDir(t)
    const config = (name: string, user: string, password: string): string => {
      const file = path.join(dir, `${name}.properties`)
      writeFileSync(file, ['# test', 'security.protocol=SASL_SSL', 'sasl.mechanism=SCRAM-SHA-256', `sasl.username=${user}`, `sasl.password=${password}`, `ssl.ca.location=${secure.pki.caFile}`, ''].join('\n'))
      return file
    }
    const admin = config('admin', secure.brokerSasl.username, secure.brokerSasl.password)
    const b = ['--bootstrap', cluster.bootstrap.join(',')]
    const as = (file: string): string[] => [...b, '--command-config', file]

    const created = await strand(['topics', 'create', 'orders', ...as(admin)])
    t.equal(created.code, 0, `the brokers' user creates a topic (${created.stderr.trim()})`)
    const user = await strand(['users', 'create', 'alice', '--password-stdin', ...as(admin)], 'alice-pw\n')
    t.equal(user.code, 0, 'users create reads the password from stdin')
    const users = await strand(['--command-config', admin, 'users', 'list', '--json', ...b])
    t.same((JSON.parse(users.stdout) as { users: Array<{ name: string }> }).users.map((u) => u.name), ['alice'], 'users list shows alice (--command-config given before the command)')

    const alice = config('alice', 'alice', 'alice-pw')
    await cluster.waitForUser({ mechanism: 'SCRAM-SHA-256', username: 'alice', password: 'alice-pw' })
    t.match((await strand(['produce', 'orders', ...as(alice)], 'x\n')).stderr, /TOPIC_AUTHORIZATION_FAILED/, 'without an ACL alice may not produce')
    const add = await strand(['acls', 'add', '--allow-principal', 'User:alice', '--operation', 'Write', '--operation', 'Describe', '--topic', 'orders', ...as(admin)])
    t.equal(add.code, 0, `acls add (${add.stderr.trim()})`)
    t.match(add.stdout, /Added 2 ACLs/, 'one ACL per operation')
    const listed = await strand(['acls', 'list', '--principal', 'User:alice', '--json', ...as(admin)])
    t.same((JSON.parse(listed.stdout) as { acls: Array<{ operation: string }> }).acls.map((a) => a.operation).sort(), ['describe', 'write'], 'acls list shows both')
    const produced = await strand(['produce', 'orders', ...as(alice)], 'x\n')
    t.equal(produced.code, 0, `alice produces once allowed (${produced.stderr.trim()})`)
    const env = await strand(['produce', 'orders', ...as(alice)], 'y\n')
    t.equal(env.code, 0, 'STRAND_SASL_* are not needed when the file has the credentials')
    const acl = await strand(['acls', 'list', ...as(alice)])
    t.equal(acl.code, 1, 'alice may not list ACLs')
    t.match(acl.stderr, /CLUSTER_AUTHORIZATION_FAILED/, 'and is told why')

    const removed = await strand(['acls', 'remove', '--allow-principal', 'User:alice', '--operation', 'Write', '--topic', 'orders', ...as(admin)])
    t.match(removed.stdout, /Removed 1 ACL/, 'acls remove takes the matching ACL only')
    // With describe alone alice sees the topic, but an idempotent producer needs write on some topic.
    t.match((await strand(['produce', 'orders', ...as(alice)], 'z\n')).stderr, /CLUSTER_AUTHORIZATION_FAILED/, 'and alice may no longer produce')

    const deleted = await strand(['users', 'delete', 'alice', ...as(admin)])
    t.equal(deleted.code, 0, 'users delete')
    const gone = await strand(['topics', 'list', ...as(alice)])
    t.equal(gone.code, 1, 'a deleted user cannot authenticate')
    t.match(gone.stderr, /SASL_AUTHENTICATION_FAILED/, 'SASL_AUTHENTICATION_FAILED')

    const noCredentials = await strand(['topics', 'list', ...b])
    t.equal(noCredentials.code, 1, 'no credentials: exit 1')
    t.match(noCredentials.stderr, /--command-config/, 'with a hint at --command-config')
    const usage = [
      { args: ['acls', 'add', '--allow-principal', 'User:alice', '--topic', 'orders', ...as(admin)], why: /--operation/ },
      { args: ['acls', 'add', '--allow-principal', 'alice', '--operation', 'Read', '--topic', 'orders', ...as(admin)], why: /User:<name>/ },
      { args: ['acls', 'add', '--allow-principal', 'User:alice', '--operation', 'Fly', '--topic', 'orders', ...as(admin)], why: /Unknown operation/ },
      { args: ['users', 'create', 'bob', ...as(admin)], why: /--password/ },
      { args: ['topics', 'list', ...b, '--command-config', path.join(dir, 'missing.properties')], why: /cannot be read/ },
    ]
    for (const u of usage) {
      const run = await strand(u.args)
      t.equal(run.code, 2, `exit 2: ${u.args.slice(0, 2).join(' ')} ...`)
      t.match(run.stderr, u.why, `says why (${run.stderr.trim()})`)
    }
    writeFileSync(path.join(dir, 'bad.properties'), 'ssl.truststore.password=x\n')
    const bad = await strand(['topics', 'list', ...b, '--command-config', path.join(dir, 'bad.properties')])
    t.equal(bad.code, 2, 'an unknown key in --command-config is a usage error')
    t.match(bad.stderr, /unknown key "ssl.truststore.password"/, 'naming the key')
  })
}
