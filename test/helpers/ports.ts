// Ports for tests that must know them before a broker starts (a quorum's voter list names every
// voter's address). The OS picks them; the brief window before the broker binds is the only race.

import net from 'node:net'

export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer()
      s.once('error', reject)
      s.listen(0, '127.0.0.1', () => resolve(s))
    })),
  )
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

/** `controller.quorum.voters` for brokers 1..n listening on `ports` of 127.0.0.1. */
export function quorumVoters(ports: readonly number[]): string {
  return ports.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(',')
}
