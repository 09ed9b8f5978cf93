// Test hosts in Linux network namespaces: each broker runs in a namespace of its own, on an
// address of a private /24 that exists only inside this sandbox, so the links between brokers
// can be cut while every process keeps running (what a SIGKILL or SIGSTOP cannot show).
//
//   root namespace (the test process, .254) --veth--+
//   strand-<pid>-<lab>-1 (broker 1, .1) ----veth----+-- bridge br0 in strand-<pid>-<lab>-hub
//   strand-<pid>-<lab>-2 (broker 2, .2) ----veth----+
//   ...
//
// The nemesis uses iproute2 only:
//   - `cut(from, to)`: a blackhole route in `from`'s namespace to `to`'s address. Packets of open
//     connections vanish silently (TCP retransmits, and delivers them once healed); a new
//     connection fails at once (EINVAL), as one to a host with no route does. Cutting both
//     directions partitions two hosts; one direction is asymmetric loss.
//   - `linkDown(host)`: the host's port on the bridge goes down: it hears nothing and nobody hears
//     it, the test's clients included; its own address stays (its interface is still up).
// The kernel of this sandbox has no netem (sch_netem) nor tc actions, so delay and probabilistic
// loss are not offered: a partition is all or nothing per direction.
//
// `netnsSupport()` checks first (root, iproute2, a namespace can be made; iproute2 is installed
// from Debian's packages when missing). Namespaces are removed at teardown, their processes
// killed, and again at process exit; labs left by a process that died are removed by the next.

import { execFile, execFileSync } from 'node:child_process'
import { randomBytes, randomInt } from 'node:crypto'
import { promisify } from 'node:util'
import type { Teardown } from './broker-process.js'

const run = promisify(execFile)
const PREFIX = 'strand-'
/** The test process's own address on every lab's link. */
const CLIENT_HOST = 254

async function ip(...args: string[]): Promise<string> {
  try {
    return (await run('ip', args, { timeout: 10_000 })).stdout
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`)
  }
}

let support: Promise<{ ok: true } | { ok: false; why: string }> | null = null

/** Whether network namespaces can be made here; installs iproute2 when it is missing and we are root. Asked once per process. */
export function netnsSupport(): Promise<{ ok: true } | { ok: false; why: string }> {
  support ??= probe()
  return support
}

async function probe(): Promise<{ ok: true } | { ok: false; why: string }> {
  if (process.platform !== 'linux') return { ok: false, why: `network namespaces need Linux (this is ${process.platform})` }
  if (process.getuid?.() !== 0) return { ok: false, why: 'creating network namespaces needs root (run as root, as CI does)' }
  if (!(await hasIp())) {
    try {
      await run('apt-get', ['install', '-y', '--no-install-recommends', 'iproute2'], { timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    } catch {
      await run('apt-get', ['update'], { timeout: 300_000 }).catch(() => undefined)
      await run('apt-get', ['install', '-y', '--no-install-recommends', 'iproute2'], { timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).catch(() => undefined)
    }
    if (!(await hasIp())) return { ok: false, why: 'iproute2 (`ip`) is missing and `apt-get install -y iproute2` did not install it' }
  }
  const name = `${PREFIX}${process.pid}-probe`
  try {
    await ip('netns', 'add', name)
    await ip('-n', name, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1')
    return { ok: true }
  } catch (err) {
    return { ok: false, why: `cannot create a network namespace with a veth pair: ${(err as Error).message}` }
  } finally {
    await ip('netns', 'del', name).catch(() => undefined)
  }
}

async function hasIp(): Promise<boolean> {
  return run('ip', ['-V'], { timeout: 5000 }).then(() => true, () => false)
}

/** Namespaces of labs whose process is gone (a test run killed before its teardown). */
async function removeStaleLabs(): Promise<void> {
  const list = await ip('netns', 'list').catch(() => '')
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const m = /^strand-(\d+)-/.exec(name)
    if (m === null) continue
    const pid = Number(m[1])
    if (pid === process.pid || alive(pid)) continue
    await killAndDelete(name)
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function killAndDelete(ns: string): Promise<void> {
  const pids = await ip('netns', 'pids', ns).catch(() => '')
  for (const pid of pids.split('\n').filter((p) => p !== '')) {
    try {
      process.kill(Number(pid), 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
  await ip('netns', 'del', ns).catch(() => undefined)
}

const liveLabs = new Set<NetLab>()
process.on('exit', () => {
  for (const lab of liveLabs) lab.removeSync()
})

/** A private network of `hosts` namespaces on one bridge, reachable from the test process. */
export class NetLab {
  readonly hosts: number
  /** The /24's first three octets, e.g. "10.217.40". */
  readonly #subnet: string
  readonly #id: string
  /** Blackhole routes in force, as "from>to". */
  readonly #cuts = new Set<string>()
  readonly #down = new Set<number>()
  #removed = false

  private constructor(hosts: number, subnet: string, id: string) {
    this.hosts = hosts
    this.#subnet = subnet
    this.#id = id
  }

  /** Builds the lab (throws when netnsSupport() says no); removed at teardown. */
  static async create(t: Teardown, hosts: number): Promise<NetLab> {
    const s = await netnsSupport()
    if (!s.ok) throw new Error(s.why)
    if (hosts < 1 || hosts > 200) throw new Error(`A lab has 1 to 200 hosts, not ${hosts}.`)
    await removeStaleLabs()
    const lab = new NetLab(hosts, await freeSubnet(), `${process.pid}-${randomBytes(2).toString('hex')}`)
    liveLabs.add(lab)
    t.teardown(() => lab.remove())
    await lab.#build()
    return lab
  }

  /** The namespace host `h` (1..hosts) runs in. */
  namespace(h: number): string {
    return `${PREFIX}${this.#id}-${h}`
  }

  get #hub(): string {
    return `${PREFIX}${this.#id}-hub`
  }

  /** Host `h`'s address. */
  address(h: number): string {
    this.#check(h)
    return `${this.#subnet}.${h}`
  }

  /** The test process's address on the lab's link. */
  get clientAddress(): string {
    return `${this.#subnet}.${CLIENT_HOST}`
  }

  /** The command prefix that runs a program in host `h`'s namespace. */
  exec(h: number): string[] {
    this.#check(h)
    return ['ip', 'netns', 'exec', this.namespace(h)]
  }

  #check(h: number): void {
    if (!Number.isInteger(h) || h < 1 || h > this.hosts) throw new Error(`Host ${h} is not in this lab (1..${this.hosts}).`)
  }

  /** Interface names are at most 15 characters: a short tag per lab and host. */
  #port(h: number | 'r'): string {
    return `s${this.#id.replace('-', '').slice(-7)}${h}`
  }

  async #build(): Promise<void> {
    const hub = this.#hub
    await ip('netns', 'add', hub)
    await ip('-n', hub, 'link', 'add', 'br0', 'type', 'bridge')
    await ip('-n', hub, 'link', 'set', 'br0', 'up')
    for (let h = 1; h <= this.hosts; h++) {
      const ns = this.namespace(h)
      await ip('netns', 'add', ns)
      await ip('link', 'add', `x${this.#port(h)}`, 'netns', ns, 'type', 'veth', 'peer', 'name', this.#port(h), 'netns', hub)
      await ip('-n', ns, 'link', 'set', `x${this.#port(h)}`, 'name', 'eth0')
      await ip('-n', ns, 'addr', 'add', `${this.address(h)}/24`, 'dev', 'eth0')
      await ip('-n', ns, 'link', 'set', 'eth0', 'up')
      await ip('-n', ns, 'link', 'set', 'lo', 'up')
      await ip('-n', hub, 'link', 'set', this.#port(h), 'master', 'br0', 'up')
    }
    const root = `r${this.#port('r').slice(1)}`
    await ip('link', 'add', root, 'type', 'veth', 'peer', 'name', this.#port('r'), 'netns', hub)
    await ip('addr', 'add', `${this.clientAddress}/24`, 'dev', root)
    await ip('link', 'set', root, 'up')
    await ip('-n', hub, 'link', 'set', this.#port('r'), 'master', 'br0', 'up')
  }

  /** Packets from `from` to `to` are dropped (one direction; call twice for both). */
  async cut(from: number, to: number): Promise<void> {
    const key = `${from}>${to}`
    if (this.#cuts.has(key)) return
    await ip('-n', this.namespace(from), 'route', 'add', 'blackhole', `${this.address(to)}/32`)
    this.#cuts.add(key)
  }

  /** Cuts both directions between every host of `a` and every host of `b`. */
  async partition(a: readonly number[], b: readonly number[]): Promise<void> {
    for (const x of a) {
      for (const y of b) {
        await this.cut(x, y)
        await this.cut(y, x)
      }
    }
  }

  async restore(from: number, to: number): Promise<void> {
    const key = `${from}>${to}`
    if (!this.#cuts.has(key)) return
    await ip('-n', this.namespace(from), 'route', 'del', 'blackhole', `${this.address(to)}/32`)
    this.#cuts.delete(key)
  }

  /** Host `h`'s bridge port goes down: it is cut from everyone, the test process included. */
  async linkDown(h: number): Promise<void> {
    this.#check(h)
    await ip('-n', this.#hub, 'link', 'set', this.#port(h), 'down')
    this.#down.add(h)
  }

  async linkUp(h: number): Promise<void> {
    this.#check(h)
    await ip('-n', this.#hub, 'link', 'set', this.#port(h), 'up')
    this.#down.delete(h)
  }

  /** Every cut restored and every link up. */
  async heal(): Promise<void> {
    for (const key of [...this.#cuts]) {
      const [from, to] = key.split('>').map(Number)
      await this.restore(from!, to!)
    }
    for (const h of [...this.#down]) await this.linkUp(h)
  }

  /** What is cut right now, for the scenario's record ("1>2 1>3 down:2"). */
  describe(): string {
    return [...[...this.#cuts].sort(), ...[...this.#down].sort().map((h) => `down:${h}`)].join(' ') || 'healed'
  }

  /** Kills what still runs in the lab's namespaces and deletes them (the root veth goes with the hub). */
  async remove(): Promise<void> {
    if (this.#removed) return
    this.#removed = true
    liveLabs.delete(this)
    for (let h = 1; h <= this.hosts; h++) await killAndDelete(this.namespace(h))
    await killAndDelete(this.#hub)
  }

  /** remove(), synchronously: for the process-exit hook, where nothing async runs. */
  removeSync(): void {
    if (this.#removed) return
    this.#removed = true
    for (const ns of [...Array.from({ length: this.hosts }, (_, i) => this.namespace(i + 1)), this.#hub]) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        for (const pid of pids.split('\n').filter((p) => p !== '')) process.kill(Number(pid), 'SIGKILL')
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' })
      } catch {
        // Gone already, or never made.
      }
    }
  }
}

/** A 10.x.y.0/24 no interface of the root namespace uses: two labs (two test files) never share one. */
async function freeSubnet(): Promise<string> {
  const used = await ip('-4', '-o', 'addr').catch(() => '')
  for (;;) {
    const subnet = `10.${randomInt(200, 250)}.${randomInt(0, 256)}`
    if (!used.includes(` ${subnet}.`)) return subnet
  }
}
