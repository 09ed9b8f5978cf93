// DescribeConfigs: a topic's effective configuration from this broker's metadata image (every
// topic key, its value, and whether it is the broker default or the topic's override), and this
// broker's own configuration. As in Kafka, a broker describes only itself: a broker resource
// naming another node id is INVALID_REQUEST, and the client sends it to that broker.

import { errorCodeOf, StrandProtocolError, toWireCode } from '../../../client/protocol/errors.js'
import { ConfigResourceType, type DescribeConfigsRequest, type DescribeConfigsResponse } from '../../../client/protocol/messages/configs.js'
import { ConfigError } from '../../config-def.js'
import { BROKER_CONFIG_DEFS, DEFAULT_BROKER_CONFIG, type BrokerConfig } from '../../config.js'
import { describeTopicConfig, topicNameProblem } from '../../topic-config.js'
import type { HandlerContext } from './context.js'

type Result = DescribeConfigsResponse['results'][number]
type Entry = Result['configs'][number]

/**
 * Keys whose values are never sent (inter.broker.sasl.password, and any later password or key
 * setting), so a secret cannot leak through a tool that prints configs. Matched on the dotted key.
 */
const SENSITIVE_KEY_PATTERN = /password|secret|credential|\.key$/

function topicConfigs(ctx: HandlerContext, name: string): Entry[] {
  const topic = ctx.quorum.image.topics.get(name)
  if (topic === undefined) {
    const problem = topicNameProblem(name)
    if (problem !== null) throw new StrandProtocolError('INVALID_TOPIC', `"${name}": ${problem}.`)
    throw new StrandProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `Topic "${name}" does not exist.`)
  }
  try {
    return describeTopicConfig(ctx.config, topic.configs)
  } catch (err) {
    // An override this build cannot read (written by a newer broker): say so rather than guess.
    if (err instanceof ConfigError) throw new StrandProtocolError('INVALID_CONFIG', err.message, err)
    throw err
  }
}

/** This broker's configuration as loaded (file, then overrides), secrets left out. */
export function brokerConfigEntries(config: BrokerConfig): Entry[] {
  const entries: Entry[] = []
  for (const [field, def] of Object.entries(BROKER_CONFIG_DEFS)) {
    if (SENSITIVE_KEY_PATTERN.test(def.key)) continue
    const value = config[field as keyof BrokerConfig]
    entries.push({ name: def.key, value: String(value), isDefault: value === DEFAULT_BROKER_CONFIG[field as keyof BrokerConfig] })
  }
  return entries
}

function brokerConfigs(ctx: HandlerContext, name: string): Entry[] {
  if (name !== '' && name !== String(ctx.nodeId)) {
    throw new StrandProtocolError('INVALID_REQUEST', `This is broker ${ctx.nodeId}; ask broker ${name} for its own configuration.`)
  }
  return brokerConfigEntries(ctx.config)
}

function describe(ctx: HandlerContext, resourceType: number, resourceName: string): Result {
  const base = { resourceType, resourceName }
  try {
    let configs: Entry[]
    if (resourceType === ConfigResourceType.Topic) configs = topicConfigs(ctx, resourceName)
    else if (resourceType === ConfigResourceType.Broker) configs = brokerConfigs(ctx, resourceName)
    else throw new StrandProtocolError('INVALID_REQUEST', `Resource type ${resourceType} is neither ${ConfigResourceType.Topic} (topic) nor ${ConfigResourceType.Broker} (broker).`)
    return { ...base, errorCode: errorCodeOf('NONE'), errorMessage: null, configs }
  } catch (err) {
    return { ...base, errorCode: toWireCode(err), errorMessage: (err as Error).message, configs: [] }
  }
}

export function handleDescribeConfigs(ctx: HandlerContext, req: DescribeConfigsRequest): DescribeConfigsResponse {
  return { throttleTimeMs: 0, results: req.resources.map((r) => describe(ctx, r.resourceType, r.resourceName)) }
}
