// The optional metrics endpoint: GET /metrics answers Prometheus text; anything else is 404.
// Plain node:http, bound to the listener host, off unless `metrics.port` is set (0 lets the OS
// choose, as for the broker's own port).

import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { Metrics } from './metrics.js'

export interface MetricsEndpoint {
  readonly port: number
  close(): Promise<void>
}

export async function serveMetrics(metrics: Metrics, options: { host: string; port: number; logger: Logger }): Promise<MetricsEndpoint> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?') === true)) {
      const body = metrics.render()
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) })
      res.end(body)
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
    res.end('Not found: metrics are at GET /metrics\n')
  })
  server.on('error', (err) => options.logger.error({ err, subsystem: 'metrics' }, 'metrics endpoint error'))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  options.logger.info({ subsystem: 'metrics', host: options.host, port }, 'serving metrics at /metrics')
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
