// The broker as a library: embedded in a test process in one line, then used by the real client.

import t from 'tap'
import { startBroker } from '../../broker/broker.js'
import { Strand } from '../../client/index.js'
import { tempDir } from '../helpers/broker-process.js'

t.test('startBroker runs a broker in-process on an OS-chosen port', async (t) => {
  const dataDir = tempDir(t)
  const broker = await startBroker({ dataDir, port: 0 })
  t.teardown(() => broker.close())
  t.not(broker.port, 0, `listening on ${broker.address}`)
  const strand = new Strand({ brokers: [broker.address] })
  t.teardown(() => strand.close())
  await strand.admin().createTopic({ topic: 'embedded', partitions: 1, replicationFactor: 1 })
  const [ack] = await strand.producer({ acks: 1 }).send({ topic: 'embedded', messages: [{ value: 'hello' }] })
  t.equal(ack?.offset, 0n)
  t.same(await strand.admin().listTopics(), ['embedded'])
  await strand.close()
  await broker.close()

  const again = await startBroker({ dataDir, port: 0 })
  t.teardown(() => again.close())
  const client = new Strand({ brokers: [again.address] })
  t.teardown(() => client.close())
  const latest = await client.admin().listOffsets({ topic: 'embedded', partition: 0, timestamp: 'latest' })
  t.equal(latest.offset, 1n, 'the topic and its record survive a restart of the embedded broker')
})
