import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { ConfigError } from '../../broker/config-def.js'
import { DEFAULT_BROKER_CONFIG, loadBrokerConfig, parseBrokerConfig, parseOverrides } from '../../broker/config.js'
import { parseTopicConfig, topicNameProblem } from '../../broker/topic-config.js'
import { tempDir } from '../helpers/broker-process.js'

t.test('defaults are typed and sane', async (t) => {
  t.equal(DEFAULT_BROKER_CONFIG.port, 9092)
  t.equal(DEFAULT_BROKER_CONFIG.maxRequestBytes, 100 * 1024 * 1024)
  t.equal(DEFAULT_BROKER_CONFIG.autoCreateTopics, false, 'auto-create is off by default')
  t.equal(DEFAULT_BROKER_CONFIG.logIndexIntervalBytes, 4096)
})

t.test('values parse from JSON types and from strings', async (t) => {
  const c = parseBrokerConfig({ 'listener.port': '0', 'auto.create.topics.enable': 'true', 'node.id': 3, fsync: 'always' }, 'test')
  t.equal(c.port, 0)
  t.equal(c.autoCreateTopics, true)
  t.equal(c.nodeId, 3)
  t.equal(c.fsync, 'always')
})

t.test('unknown keys and bad values are clear errors', async (t) => {
  t.throws(() => parseBrokerConfig({ 'log.segmnt.bytes': 10 }, 'x.json'), { name: 'ConfigError', message: /Unknown config key "log.segmnt.bytes" in x.json. Did you mean "log.segment.bytes"\?/ })
  t.throws(() => parseBrokerConfig({ 'listener.port': 70000 }, 'x.json'), { message: /"listener.port".*from 0 to 65535/ })
  t.throws(() => parseBrokerConfig({ 'listener.port': 'abc' }, 'x.json'), { message: /expected an integer/ })
  t.throws(() => parseBrokerConfig({ fsync: 'sometimes' }, 'x.json'), { message: /expected one of always, policy/ })
  t.throws(() => parseOverrides(['novalue']), ConfigError)
})

t.test('kafka.listener.port: off by default, 0 for a port the OS chooses, else a fixed port', async (t) => {
  t.equal(DEFAULT_BROKER_CONFIG.kafkaListenerPort, -1, 'off')
  t.equal(parseBrokerConfig({ 'kafka.listener.port': '0' }, 'test').kafkaListenerPort, 0)
  t.equal(parseBrokerConfig({ 'kafka.listener.port': 19092 }, 'test').kafkaListenerPort, 19092)
  for (const bad of [-2, 65536, 1.5, 'abc']) {
    t.throws(() => parseBrokerConfig({ 'kafka.listener.port': bad }, 'x.json'), { name: 'ConfigError', message: /Invalid value .* for "kafka.listener.port" in x.json: expected an integer/ }, `${bad} is refused`)
  }
  for (const id of [1, 2, 3]) {
    const c = loadBrokerConfig(path.resolve(import.meta.dirname, `../../config/broker-${id}.json`), [])
    t.equal(c.kafkaListenerPort, 19091 + id, `the local cluster's broker ${id} speaks Kafka on ${19091 + id}`)
    t.not(c.kafkaListenerPort, c.port, 'clear of its listener port')
    t.not(c.kafkaListenerPort, c.metricsPort, 'and of its metrics port')
  }
})

t.test('a file plus overrides; relative data.dir resolves from the file', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'b.json')
  writeFileSync(file, JSON.stringify({ 'node.id': 2, 'data.dir': 'here', 'listener.port': 9000 }))
  const c = loadBrokerConfig(file, ['listener.port=9100'])
  t.equal(c.nodeId, 2)
  t.equal(c.port, 9100, 'the override wins')
  t.equal(c.dataDir, path.join(dir, 'here'))
  writeFileSync(file, '{ not json')
  t.throws(() => loadBrokerConfig(file, []), { message: /not valid JSON/ })
  t.throws(() => loadBrokerConfig(path.join(dir, 'missing.json'), []), { message: /Cannot read config file/ })
})

t.test('topic configs take broker defaults and reject unknown keys', async (t) => {
  const b = { ...DEFAULT_BROKER_CONFIG, logSegmentBytes: 5000 }
  t.equal(parseTopicConfig(b, {}).segmentBytes, 5000)
  t.equal(parseTopicConfig(b, { 'segment.bytes': '2048' }).segmentBytes, 2048)
  t.equal(parseTopicConfig(b, { 'cleanup.policy': 'compact' }).cleanupPolicy, 'compact')
  t.throws(() => parseTopicConfig(b, { 'segment.byte': '1' }), { message: /Did you mean "segment.bytes"/ })
  t.throws(() => parseTopicConfig(b, { 'min.insync.replicas': '0' }), ConfigError)
})

t.test('topic name rules follow Kafka', async (t) => {
  t.equal(topicNameProblem('orders.v1_x-2'), null)
  t.not(topicNameProblem(''), null)
  t.not(topicNameProblem('.'), null)
  t.not(topicNameProblem('..'), null)
  t.not(topicNameProblem('a/b'), null)
  t.not(topicNameProblem('x'.repeat(250)), null)
  t.equal(topicNameProblem('x'.repeat(249)), null)
})

t.test('the broker process exits 1 with a message on bad config', async (t) => {
  const root = path.resolve(import.meta.dirname, '../..')
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'broker/main.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 })
  const unknown = run(['--override', 'no.such.key=1'])
  t.equal(unknown.status, 1)
  t.match(unknown.stderr, /Unknown config key "no.such.key"/)
  const badFlag = run(['--bogus'])
  t.equal(badFlag.status, 1)
  t.match(badFlag.stderr, /Unknown option '--bogus'/)
  const help = run(['--help'])
  t.equal(help.status, 0)
  t.match(help.stdout, /log\.segment\.bytes/)
})
