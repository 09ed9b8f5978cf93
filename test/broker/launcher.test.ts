// The launcher starts brokers with single-threaded garbage collection (they share the machine's
// cores) and a larger initial old space, which STRAND_BROKER_NODE_FLAGS replaces: checked on real broker processes, from the
// command line the kernel has for them.

import { readFileSync } from 'node:fs'
import t from 'tap'
import { brokerNodeFlags } from '../../broker/local/launcher.js'
import { spawnBroker } from '../helpers/broker-process.js'

/** The process's command line as the kernel has it (Linux), else what Node spawned. */
function commandLine(pid: number | undefined, spawnargs: string[]): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '')
  } catch {
    return spawnargs
  }
}

t.test('flags: the default, a replacement, and none', async (t) => {
  t.same(brokerNodeFlags({}), ['--single-threaded-gc', '--initial-old-space-size=64'])
  t.same(brokerNodeFlags({ STRAND_BROKER_NODE_FLAGS: '--max-semi-space-size=32  --single-threaded-gc' }), ['--max-semi-space-size=32', '--single-threaded-gc'])
  t.same(brokerNodeFlags({ STRAND_BROKER_NODE_FLAGS: '' }), [], 'empty: V8 defaults')
})

t.test('a launched broker runs with the flags, before the entry point', async (t) => {
  const previous = process.env.STRAND_BROKER_NODE_FLAGS
  t.teardown(() => {
    if (previous === undefined) delete process.env.STRAND_BROKER_NODE_FLAGS
    else process.env.STRAND_BROKER_NODE_FLAGS = previous
  })
  delete process.env.STRAND_BROKER_NODE_FLAGS
  const byDefault = await spawnBroker(t)
  const args = commandLine(byDefault.child.pid, byDefault.child.spawnargs)
  for (const f of brokerNodeFlags({})) {
    const at = args.indexOf(f)
    t.ok(at > 0 && at < args.indexOf('--import'), `${f} before the entry point: ${args.join(' ')}`)
  }

  process.env.STRAND_BROKER_NODE_FLAGS = ''
  const plain = await spawnBroker(t)
  t.notOk(commandLine(plain.child.pid, plain.child.spawnargs).includes('--single-threaded-gc'), 'an empty STRAND_BROKER_NODE_FLAGS leaves V8 its defaults')
})
