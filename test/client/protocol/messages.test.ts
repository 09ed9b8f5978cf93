import t from 'tap'
import { ApiKey, decodeRequest, decodeRequestBody, decodeResponse, encodeRequest, encodeResponse, supportedApis } from '../../../client/protocol/apis.js'
import { StrandProtocolError } from '../../../client/protocol/errors.js'
import { readRequestHeader } from '../../../client/protocol/frame.js'
import { registrationKafkaPortOf, type BrokerRegistrationRequest, type BrokerRegistrationRequestAnyVersion } from '../../../client/protocol/messages/brokers.js'
import { produceLeaderEpochOf, type ProduceRequest, type ProduceRequestAnyVersion } from '../../../client/protocol/messages/produce.js'
import { Rng, testSeed } from '../../helpers/random.js'
import { SAMPLES } from './samples.js'

// Frozen wire bytes of every released API version (request with correlation id 0x01020304 and
// client id "golden"). A failure here means a released schema changed: add a version instead.
const GOLDEN: Record<string, { request: string; response: string }> = {
  'ApiVersions v0': {
    request: '0000001000120000010203040006676f6c64656e',
    response: '0000000d01020304000400000002000600',
  },
  'Metadata v0': {
    request: '0000001d00030000010203040006676f6c64656e02040c6f726465727304c3a900',
    response: '00000036010203040202123132372e302e302e31888e010006632d310202000c6f72646572730002000002080602040600040204000206000000',
  },
  'CreateTopics v0': {
    request: '0000003b00130000010203040006676f6c64656e020c6f72646572730c0604266d696e2e696e73796e632e7265706c696361730202320278000000e0d40300',
    response: '0000001801020304020c6f726465727348020c657869737473010100',
  },
  'DeleteTopics v0': {
    request: '0000001800140000010203040006676f6c64656e040261026200d00f',
    response: '00000016010203040402610000026206020e756e6b6e6f776e00',
  },
  'Produce v0': {
    request: '0000003200000000010203040006676f6c64656e0001e0d403020c6f7264657273020420000102030405060708090a0b0c0d0e0f0000',
    response: '0000001d01020304020c6f72646572730204000082808080808080200100000000',
  },
  'Produce v1': {
    request: '0000003300000001010203040006676f6c64656e0001e0d403020c6f726465727302040a20000102030405060708090a0b0c0d0e0f0000',
    response: '0000001e01020304020c6f726465727302049401020c66656e636564010101000000',
  },
  'Fetch v0': {
    request: '0000002c00010000010203040006676f6c64656e01e807028080803200020c6f72646572730200015401808080010000',
    response: '00000031010203040000020c6f7264657273020000feffffffffffffffff01c8010020000102030405060708090a0b0c0d0e0f0000',
  },
  'ListOffsets v0': {
    request: '0000002000020000010203040006676f6c64656e0100020c6f7264657273020201030000',
    response: '0000001901020304020c6f726465727302020080a0abfef96222060000',
  },
  'Vote v0': {
    request: '0000001500340000010203040006676f6c64656e0e04f0010c',
    response: '0000000701020304000e01',
  },
  'PreVote v0': {
    request: '0000001503eb0000010203040006676f6c64656e1006f0010c',
    response: '0000000701020304000e00',
  },
  'AppendEntries v0': {
    request: '0000002d03e80000010203040006676f6c64656e0e04f0010cee01040e000e20000102030405060708090a0b0c0d0e0f00',
    response: '0000000901020304000e01f401',
  },
  'InstallSnapshot v0': {
    request: '0000002c03e90000010203040006676f6c64656e0e0482808080808080200c20000102030405060708090a0b0c0d0e0f',
    response: '0000000f01020304000e018280808080808020',
  },
  'DescribeQuorum v0': {
    request: '0000001000370000010203040006676f6c64656e',
    response: '0000003301020304000210666f6c6c6f7765720e04ee01f4010402123132372e302e302e31888e0104123132372e302e302e318a8e0100',
  },
  'DescribeCluster v0': {
    request: '00000010003c0000010203040006676f6c64656e',
    response: '000000260102030400040402123132372e302e302e31888e010004123132372e302e302e318a8e010100',
  },
  'BrokerRegistration v0': {
    request: '0000002a003e0000010203040006676f6c64656e061c62726f6b65722d332e6c6f63616c8c8e010c346631633261',
    response: '000000050102030452',
  },
  'BrokerRegistration v1': {
    request: '0000002d003e0001010203040006676f6c64656e061c62726f6b65722d332e6c6f63616c8c8e010c346631633261acaa02',
    response: '000000050102030400',
  },
  'DescribeCluster v1': {
    request: '00000010003c0001010203040006676f6c64656e',
    response: '0000002a0102030400040402123132372e302e302e31888e0100a8aa0204123132372e302e302e318a8e01010100',
  },
  'BrokerHeartbeat v0': {
    request: '00000018003f0000010203040006676f6c64656e060c346631633261',
    response: '00000006010203040000',
  },
  'FindCoordinator v0': {
    request: '0000001f000a0000010203040006676f6c64656e1a62696c6c696e672d73696e6b7300',
    response: '000000150102030400000004123132372e302e302e318a8e01',
  },
  'JoinGroup v0': {
    request: '00000048000b0000010203040006676f6c64656e1a62696c6c696e672d73696e6b73a09c01e0d403000010636f6e73756d6572040a72616e67650600010214726f756e64726f62696e020300',
    response: '00000038010203040000060210636f6e73756d6572020a72616e6765066d2d31066d2d3104066d2d310006000102066d2d32020c73696e6b2d620000',
  },
  'SyncGroup v0': {
    request: '00000044000e0000010203040006676f6c64656e1a62696c6c696e672d73696e6b7306066d2d31000210636f6e73756d6572020a72616e676504066d2d31040908066d2d32020700',
    response: '0000000b0102030400360000040908',
  },
  'Heartbeat v0': {
    request: '0000002b000c0000010203040006676f6c64656e1a62696c6c696e672d73696e6b7306066d2d32020c73696e6b2d62',
    response: '00000006010203040036',
  },
  'LeaveGroup v0': {
    request: '00000025000d0000010203040006676f6c64656e1a62696c6c696e672d73696e6b7302066d2d320000',
    response: '0000000e01020304000002066d2d32003200',
  },
  'OffsetCommit v0': {
    request: '0000004500080000010203040006676f6c64656e1a62696c6c696e672d73696e6b7306066d2d3100020c6f72646572730400828080808080802008000a0001020c73696e6b2d610000',
    response: '000000140102030400020c6f72646572730400000a2c0000',
  },
  'OffsetFetch v0': {
    request: '0000002c00090000010203040006676f6c64656e1a62696c6c696e672d73696e6b7302020c6f726465727304000a0000',
    response: '0000001c010203040000020c6f72646572730400540800000a01010200000000',
  },
  'DescribeGroups v0': {
    request: '00000027000f0000010203040006676f6c64656e041a62696c6c696e672d73696e6b730c6e6f626f647900',
    response: '0000005b010203040004001a62696c6c696e672d73696e6b730c537461626c6510636f6e73756d65720a72616e67650602066d2d31000873696e6b142f3132372e302e302e310201040203008a010c6e6f626f647908446561640000010000',
  },
  'ListGroups v0': {
    request: '0000001900100000010203040006676f6c64656e020c537461626c6500',
    response: '00000026010203040000021a62696c6c696e672d73696e6b7310636f6e73756d65720c537461626c6500',
  },
  'InitProducerId v0': {
    request: '0000001600160000010203040006676f6c64656e00c0a9070101',
    response: '0000000f010203040000828080808080802000',
  },
  'AllocateProducerIds v0': {
    request: '0000001800430000010203040006676f6c64656e040c346631633261',
    response: '0000000a010203040000d00fd00f',
  },
  'ControlledShutdown v0': {
    request: '0000001800070000010203040006676f6c64656e040c346631633261',
    response: '00000006010203040002',
  },
  'OffsetsForLeaderEpoch v0': {
    request: '0000002200170000010203040006676f6c64656e04020c6f726465727304000a08020a040000',
    response: '0000001f0102030400020c6f7264657273040000088280808080808020000201010000',
  },
  'AlterPartition v0': {
    request: '0000003200380000010203040006676f6c64656e020c346631633261020c6f726465727304000a0402060018020a0602040600100000',
    response: '000000230102030400020c6f7264657273040000020a040206001a02be01020a04020400120000',
  },
  'DescribeConfigs v0': {
    request: '0000001d00200000010203040006676f6c64656e04040c6f726465727308023200',
    response: '0000005a0102030400040000040c6f72646572730618726574656e74696f6e2e6d7302103836343030303030001c636c65616e75702e706f6c696379020c64656c65746501027800010054021861736b2062726f6b657220320802320000',
  },
  'DescribeMetrics v0': {
    request: '0000001003ea0000010203040006676f6c64656e',
    response: '00000049010203040004820123205459504520737472616e645f6163746976655f636f6e74726f6c6c65722067617567650a737472616e645f6163746976655f636f6e74726f6c6c657220310a',
  },
  'SaslHandshake v0': {
    request: '0000001e00110000010203040006676f6c64656e1a534352414d2d5348412d323536',
    response: '0000001b0102030400041a534352414d2d5348412d3235360a504c41494e00',
  },
  'SaslAuthenticate v0': {
    request: '0000002000240000010203040006676f6c64656e1e6e2c2c6e3d757365722c723d616263',
    response: '0000001e0102030474022a41757468656e7469636174696f6e206661696c65640000',
  },
  'DescribeUserScramCredentials v0': {
    request: '0000001900320000010203040006676f6c64656e02020a616c69636500',
    response: '00000015010203040000020a616c6963650000020280400000',
  },
  'AlterUserScramCredentials v0': {
    request: '0000002800330000010203040006676f6c64656e0206626f620200020a616c69636502804004010204030400',
    response: '00000022010203040406626f62b60102186e6f207375636820757365720a616c696365000000',
  },
  'DescribeAcls v0': {
    request: '0000001e001d0000010203040006676f6c64656e04020c6f72646572730400000202',
    response: '0000002001020304000002040c6f72646572730614557365723a616c696365022a060600',
  },
  'CreateAcls v0': {
    request: '0000002a001e0000010203040006676f6c64656e02061062696c6c696e672d0810557365723a626f62022a100400',
    response: '000000080102030402000000',
  },
  'Fetch v1': {
    request: '0000002c00010001010203040006676f6c64656e01e807028080803202020c6f72646572730200065401808080010000',
    response: '00000045010203040000020c6f7264657273040000f001c8010002020e580020000102030405060708090a0b0c0d0e0f02000a0a000020000102030405060708090a0b0c0d0e0f0000',
  },
  'WriteTxnMarkers v0': {
    request: '0000002a001b0000010203040006676f6c64656e0282808080808080200401020c6f726465727304000600000e00',
    response: '0000001d01020304028280808080808020020c6f7264657273040000060c000000',
  },
  'WriteTxnMarkers v1': {
    request: '0000002a001b0001010203040006676f6c64656e0282808080808080200600020c6f7264657273020200000e0400',
    response: '0000001b01020304028280808080808020020c6f726465727302025e000000',
  },
  'AddPartitionsToTxn v0': {
    request: '0000003000180000010203040006676f6c64656e126f72646572732d7478828080808080802006020c6f72646572730400040000',
    response: '000000140102030400020c6f726465727304000004660000',
  },
  'EndTxn v0': {
    request: '00000024001a0000010203040006676f6c64656e126f72646572732d747882808080808080200601',
    response: '000000070102030400b401',
  },
  'EndTxn v1': {
    request: '00000025001a0001010203040006676f6c64656e126f72646572732d74788280808080808020060101',
    response: '0000000f010203040000828080808080802008',
  },
  'AddOffsetsToTxn v0': {
    request: '0000002b00190000010203040006676f6c64656e126f72646572732d74788280808080808020060e62696c6c696e67',
    response: '00000006010203040066',
  },
  'TxnOffsetCommit v0': {
    request: '0000003f001c0000010203040006676f6c64656e126f72646572732d74780e62696c6c696e6782808080808080200608066d2d31020c6f726465727302045401000000',
    response: '000000130102030400020c6f72646572730204b0010000',
  },
  'DeleteAcls v0': {
    request: '00000022001f0000010203040006676f6c64656e020200020210557365723a626f6200020200',
    response: '000000270102030402000002081a6b61666b612d636c75737465720610557365723a626f62022a12060000',
  },
  'ListTransactions v0': {
    request: '0000002b00420000010203040006676f6c64656e040e4f6e676f696e670c46726f7a656e0002828080808080802000',
    response: '0000002b010203040000020c46726f7a656e0002126f72646572732d747882808080808080200e4f6e676f696e6700',
  },
  'DescribeTransactions v0': {
    request: '0000002300410000010203040006676f6c64656e04126f72646572732d74780c6e6f626f647900',
    response: '0000004801020304000400126f72646572732d74780e4f6e676f696e67c0a90780a0abfef962828080808080802006020c6f72646572730400040000d2010c6e6f626f647900000101010000',
  },
}

const seed = testSeed()

t.test('every released version has golden bytes, and encodes to them', async (t) => {
  const released = supportedApis().flatMap((a) => Array.from({ length: a.maxVersion - a.minVersion + 1 }, (_, i) => `${a.apiKey}/${a.minVersion + i}`))
  const sampled = SAMPLES.map((s) => `${s.apiKey}/${s.version}`)
  t.same([...released].sort(), [...sampled].sort(), 'one sample per released API version')
  for (const s of SAMPLES) {
    const golden = GOLDEN[s.name]
    t.ok(golden, `golden bytes for ${s.name}`)
    if (golden === undefined) continue
    t.equal(encodeRequest(s.apiKey as never, s.version, 0x01020304, 'golden', s.request as never).toString('hex'), golden.request, `${s.name} request`)
    t.equal(encodeResponse(s.apiKey as never, s.version, 0x01020304, s.response as never).toString('hex'), golden.response, `${s.name} response`)
  }
})

t.test('golden bytes decode back to the samples', async (t) => {
  for (const s of SAMPLES) {
    const golden = GOLDEN[s.name]
    if (golden === undefined) continue
    const req = Buffer.from(golden.request, 'hex').subarray(4)
    const header = readRequestHeader(req)
    t.same(header, { apiKey: s.apiKey, apiVersion: s.version, correlationId: 0x01020304, clientId: 'golden', bodyOffset: header.bodyOffset })
    t.same(decodeRequestBody(s.apiKey, s.version, req, header.bodyOffset), s.request, `${s.name} request`)
    const res = decodeResponse(s.apiKey as never, s.version, Buffer.from(golden.response, 'hex').subarray(4))
    t.equal(res.correlationId, 0x01020304)
    t.same(res.body, s.response, `${s.name} response`)
  }
})

t.test('a latest-shape body encodes at an older version, which leaves the newer fields out', async (t) => {
  const v1 = SAMPLES.find((s) => s.name === 'Produce v1')!.request as ProduceRequest
  t.equal(encodeRequest(ApiKey.Produce, 0, 0x01020304, 'golden', v1).toString('hex'), GOLDEN['Produce v0']!.request, 'Produce v1 body at v0: the v0 bytes')
  const v0 = decodeRequest(ApiKey.Produce, Buffer.from(GOLDEN['Produce v0']!.request, 'hex').subarray(4)).body as ProduceRequestAnyVersion
  t.equal(produceLeaderEpochOf(v0.topics[0]!.partitions[0]!), -1, 'a v0 partition has no epoch: not checked')
  t.equal(produceLeaderEpochOf(v1.topics[0]!.partitions[0]!), 5, 'a v1 partition has its own')
})

t.test('BrokerRegistration: a v0 body has no Kafka port (-1); a v1 body encodes at v0 without it', async (t) => {
  const v1 = SAMPLES.find((s) => s.name === 'BrokerRegistration v1')!.request as BrokerRegistrationRequest
  const v0Bytes = encodeRequest(ApiKey.BrokerRegistration, 0, 0x01020304, 'golden', v1).toString('hex')
  t.equal(v0Bytes, GOLDEN['BrokerRegistration v0']!.request, 'the same registration at v0: the v0 bytes, kafkaPort left out')
  const v0 = decodeRequest(ApiKey.BrokerRegistration, Buffer.from(GOLDEN['BrokerRegistration v0']!.request, 'hex').subarray(4)).body as BrokerRegistrationRequestAnyVersion
  t.equal(registrationKafkaPortOf(v0), -1, 'a v0 registration: no Kafka listener')
  t.equal(registrationKafkaPortOf(v1), 19094, 'a v1 registration: its port')
  const described = decodeResponse(ApiKey.DescribeCluster, 0, Buffer.from(GOLDEN['DescribeCluster v0']!.response, 'hex').subarray(4)).body
  t.equal(described.brokers[0]?.kafkaPort, undefined, 'a v0 DescribeCluster answer has no Kafka ports')
})

t.test('int64 fields are bigints at both extremes', async (t) => {
  for (const v of [-(2n ** 63n), -1n, 0n, 2n ** 53n + 1n, 2n ** 63n - 1n]) {
    const frame = encodeResponse(ApiKey.ListOffsets, 0, 1, { topics: [{ name: 'x', partitions: [{ partitionIndex: 0, errorCode: 0, timestamp: v, offset: v, leaderEpoch: 0 }] }] })
    const back = decodeResponse(ApiKey.ListOffsets, 0, frame.subarray(4)).body.topics[0]?.partitions[0]
    t.equal(back?.offset, v)
    t.equal(typeof back?.offset, 'bigint')
  }
})

t.test('unknown API keys and versions are UNSUPPORTED_VERSION', async (t) => {
  const frame = encodeRequest(ApiKey.Metadata, 0, 1, null, { topics: null }).subarray(4)
  t.throws(() => decodeRequestBody(9999, 0, frame, 10), { code: 'UNSUPPORTED_VERSION' })
  t.throws(() => decodeRequestBody(ApiKey.Metadata, 7, frame, 10), { code: 'UNSUPPORTED_VERSION' })
  t.same(decodeRequest(ApiKey.Metadata, frame).body, { topics: null }, 'a null client id round-trips')
})

function expectInvalid(t: { fail(message: string): unknown }, fn: () => unknown, what: string): boolean {
  try {
    fn()
    return true
  } catch (err) {
    if (err instanceof StrandProtocolError && (err.code === 'INVALID_REQUEST' || err.code === 'UNSUPPORTED_VERSION')) return true
    t.fail(`${what}: threw ${(err as Error).name}: ${(err as Error).message} (seed ${seed})`)
    return false
  }
}

t.test(`truncations and mutations never escape as untyped errors (seed ${seed})`, async (t) => {
  const rng = new Rng(seed)
  let checked = 0
  for (const s of SAMPLES) {
    const frame = encodeRequest(s.apiKey as never, s.version, 1, 'fuzz', s.request as never).subarray(4)
    for (let len = 0; len < frame.length; len++) {
      const cut = frame.subarray(0, len)
      t.throws(() => decodeRequest(s.apiKey as never, cut), StrandProtocolError, `${s.name} cut at ${len}`)
      checked++
    }
    for (let i = 0; i < 500; i++) {
      const m = Buffer.from(frame)
      for (let k = rng.int(1, 4); k > 0; k--) m[rng.int(0, m.length - 1)] = rng.int(0, 255)
      if (expectInvalid(t, () => decodeRequest(s.apiKey as never, m), `${s.name} mutation ${i}`)) checked++
    }
  }
  // Forged huge counts and lengths must fail fast, not loop or allocate.
  const started = Date.now()
  const header = encodeRequest(ApiKey.Metadata, 0, 1, 'x', { topics: [] }).subarray(4, 15)
  for (const tail of ['0280808080088080', '02feffffff0f', '02ffffffff0f00', 'fdffffff0f']) {
    t.throws(() => decodeRequest(ApiKey.Metadata, Buffer.concat([header, Buffer.from(tail, 'hex')])), StrandProtocolError, `forged tail ${tail}`)
  }
  t.ok(Date.now() - started < 1000, 'forged counts are rejected at once')
  t.ok(checked > 1000, `checked ${checked} malformed requests`)
})
