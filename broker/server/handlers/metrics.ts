// DescribeMetrics: this broker's metrics as the Prometheus text its HTTP port serves, for tools
// that reach the broker's listener but not (or not knowingly) its metrics port.

import type { DescribeMetricsResponse } from '../../../client/protocol/messages/metrics.js'
import type { HandlerContext } from './context.js'

export function handleDescribeMetrics(ctx: HandlerContext): DescribeMetricsResponse {
  return { errorCode: 0, nodeId: ctx.nodeId, text: ctx.metrics.render() }
}
