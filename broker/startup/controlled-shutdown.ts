// Kafka's controlled shutdown, the first step of a clean stop: ask the active controller to fence
// this broker and move its leaderships now, rather than leave them to the session timeout.
// Called by RunningBroker.close (broker/broker.ts) while both listeners still accept: when this
// broker is the active controller, the request arrives on its own listener.

import { setTimeout as delay } from 'node:timers/promises'
import type { Logger } from 'pino'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf, nameOfCode } from '../../client/protocol/errors.js'
import type { ControllerChannel } from '../metadata/controller-channel.js'

/** Longest a clean stop waits for the controller to move this broker's leaderships away. */
export const CONTROLLED_SHUTDOWN_MS_MAX = 5000
/** Pause between attempts while the controller is unknown or moving. */
const RETRY_BACKOFF_MS = 50

/**
 * Retries while the controller is unknown or moving, within `timeoutMs`. If it cannot, the broker
 * stops anyway and its session timeout does the same job later.
 */
export async function controlledShutdown(channel: ControllerChannel, options: { brokerId: number; incarnationId: string; timeoutMs: number; logger: Logger; clock: () => number }): Promise<void> {
  const { clock } = options
  const deadline = clock() + options.timeoutMs
  let lastError = 'no controller known'
  while (clock() < deadline) {
    const current = channel.current()
    if (current !== null) {
      try {
        const res = await current.connection.request(ApiKey.ControlledShutdown, { brokerId: options.brokerId, incarnationId: options.incarnationId }, { timeoutMs: Math.max(1, deadline - clock()) })
        if (res.errorCode === 0) {
          options.logger.info({ subsystem: 'lifecycle', remainingLeaderships: res.remainingLeaderships }, 'controlled shutdown: leaderships moved')
          return
        }
        lastError = nameOfCode(res.errorCode)
        if (res.errorCode === errorCodeOf('STALE_BROKER_EPOCH')) break
      } catch (err) {
        lastError = (err as Error).message
      }
    }
    await delay(RETRY_BACKOFF_MS)
  }
  options.logger.warn({ subsystem: 'lifecycle', reason: lastError }, 'controlled shutdown failed; stopping anyway')
}
