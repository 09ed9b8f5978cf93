// DescribeMetrics (key 1002, Strand's own): a broker's metrics as Prometheus text (exposition
// format 0.0.4), the same text its optional HTTP port serves at GET /metrics, so tools can read
// every broker's metrics over the port they already reach, whether or not `metrics.port` is set.
// Only the broker asked answers, for itself.

import { int, record, string, type Value } from '../avro.js'

export const DescribeMetricsRequestV0 = record('DescribeMetricsRequestV0', {})
export const DescribeMetricsResponseV0 = record('DescribeMetricsResponseV0', { errorCode: int, nodeId: int, text: string })

export type DescribeMetricsRequest = Value<typeof DescribeMetricsRequestV0>
export type DescribeMetricsResponse = Value<typeof DescribeMetricsResponseV0>
export const describeMetricsVersions = { 0: { request: DescribeMetricsRequestV0, response: DescribeMetricsResponseV0 } } as const
