// Baselines measured in the same run as the figures they are compared with: what plain Node can
// do on this machine, right now, with the same bytes. A ratio against them stays meaningful on a
// shared, noisy machine where absolute figures do not.

import { spawn } from 'node:child_process'
import net from 'node:net'
import { once } from 'node:events'

/**
 * A sink in its own process (as a broker would be) that reads `totalBytes` from one connection
 * and answers one byte when it has them all.
 */
const SINK_SCRIPT = `
const net = require('node:net')
const total = Number(process.argv[1])
const server = net.createServer((s) => {
  let got = 0
  s.on('data', (c) => { got += c.length; if (got >= total) { s.write('k'); s.end(); server.close() } })
})
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'))
`

export interface BaselineResult {
  bytes: number
  ms: number
}

/** Raw `node:net` loopback: one client writing `chunkBytes` chunks as fast as backpressure allows. */
export async function loopbackBaseline(totalBytes: number, chunkBytes: number): Promise<BaselineResult> {
  const child = spawn(process.execPath, ['-e', SINK_SCRIPT, String(totalBytes)], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const [line] = (await once(child.stdout, 'data')) as [Buffer]
    const port = Number(line.toString().trim())
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    const chunk = Buffer.alloc(chunkBytes, 0x61)
    const start = performance.now()
    const acked = once(socket, 'data')
    let sent = 0
    while (sent < totalBytes) {
      const n = Math.min(chunkBytes, totalBytes - sent)
      const ok = socket.write(n === chunkBytes ? chunk : chunk.subarray(0, n))
      sent += n
      if (!ok) await once(socket, 'drain')
    }
    await acked
    const ms = performance.now() - start
    socket.destroy()
    return { bytes: totalBytes, ms }
  } finally {
    child.kill('SIGKILL')
  }
}
