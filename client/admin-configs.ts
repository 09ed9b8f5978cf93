// The admin client's configuration reads (Admin delegates here): DescribeConfigs for topics and
// brokers, one result per resource with its own error. Topics are described by any broker (from
// its metadata image); a broker describes only itself, so each broker resource goes to it.

import type { AdminScope } from './admin-scope.js'
import { InvalidArgumentError, StrandProtocolError, wireError, type StrandError } from './errors.js'
import { ApiKey } from './protocol/apis.js'
import { ConfigResourceType } from './protocol/messages/configs.js'

/** What DescribeConfigs describes: a topic by name, a broker by node id. */
export interface ConfigResource {
  type: 'topic' | 'broker'
  name: string
}

/** One configuration key of a topic or broker. */
export interface ConfigEntry {
  /** The dotted key (`retention.ms`). */
  name: string
  /** The effective value as a string; null when the key has no value. */
  value: string | null
  /** True when the value is the default; false for a topic's override or a broker's set key. */
  isDefault: boolean
}

/** One resource's configuration, or why the broker could not describe it. */
export interface ConfigResourceDescription extends ConfigResource {
  configs: ConfigEntry[]
  /** UNKNOWN_TOPIC_OR_PARTITION, ...; null on success (then `configs` holds every key). */
  error: StrandError | null
}

/** One result of a DescribeConfigs response. */
interface DescribedConfigs {
  errorCode: number
  errorMessage: string | null
  resourceType: number
  resourceName: string
  configs: ConfigEntry[]
}

/**
 * The configuration of topics and brokers, one result per resource in the order asked, each
 * with its own error. Topics are described by any broker (from its metadata image, defaults
 * from its own config); a broker only describes itself, so each broker resource goes to it.
 */
export async function describeConfigs(scope: AdminScope, resources: readonly ConfigResource[]): Promise<ConfigResourceDescription[]> {
  scope.checkOpen()
  for (const r of resources) {
    const ok = (r?.type === 'topic' && typeof r.name === 'string') || (r?.type === 'broker' && /^\d+$/.test(String(r.name)))
    if (!ok) throw new InvalidArgumentError(`Not a config resource: ${JSON.stringify(r)} (a { type: 'topic', name } or a { type: 'broker', name: '<node id>' }).`)
  }
  const topics = resources.filter((r) => r.type === 'topic')
  const brokers = resources.filter((r) => r.type === 'broker')
  const ask = (send: () => Promise<{ results: DescribedConfigs[] }>): Promise<DescribedConfigs[]> => scope.cluster.retry(async () => (await send()).results)
  const answers = await Promise.all([
    topics.length === 0 ? [] : ask(() => scope.cluster.requestAny(ApiKey.DescribeConfigs, { resources: topics.map((r) => ({ resourceType: ConfigResourceType.Topic, resourceName: r.name })) })),
    ...brokers.map(async (r) => {
      await scope.cluster.retry(() => scope.cluster.refresh())
      return ask(() => scope.cluster.connectionTo(Number(r.name)).request(ApiKey.DescribeConfigs, { resources: [{ resourceType: ConfigResourceType.Broker, resourceName: r.name }] }))
    }),
  ])
  const results = answers.flat()
  return resources.map((r) => {
    const type = r.type === 'topic' ? ConfigResourceType.Topic : ConfigResourceType.Broker
    const found = results.find((x) => x.resourceType === type && x.resourceName === r.name)
    if (found === undefined) return { ...r, configs: [], error: new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The DescribeConfigs response has no result for ${r.type} "${r.name}".`) }
    return { type: r.type, name: r.name, configs: found.configs, error: wireError(found.errorCode, found.errorMessage) }
  })
}

/** Every config key of a topic with its effective value; rejects with the topic's error (UNKNOWN_TOPIC_OR_PARTITION...). */
export async function topicConfigs(scope: AdminScope, topic: string): Promise<ConfigEntry[]> {
  if (typeof topic !== 'string') throw new InvalidArgumentError('topicConfigs() takes a topic name.')
  const [result] = await describeConfigs(scope, [{ type: 'topic', name: topic }])
  if (result!.error !== null) throw result!.error
  return result!.configs
}
