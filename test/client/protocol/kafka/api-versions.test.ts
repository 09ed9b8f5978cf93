import t from 'tap'
import { apiVersionsRequest, apiVersionsResponse } from '../../../../client/protocol/kafka/messages/api-versions.js'
import type { KafkaStruct } from '../../../../client/protocol/kafka/schema.js'
import { ABSURD_COUNT, Bytes, bytesFor, checkGolden, checkInvalid, checkTruncations, tagged, UNKNOWN_TAG, type TaggedBytes } from './bytes.js'
import { codecOf } from './codec.js'

// Golden bytes for ApiVersions v0-3, built field by field from Kafka's ApiVersionsRequest.json and
// ApiVersionsResponse.json (flexible from v3).
const VERSIONS = [0, 1, 2, 3]
const FLEXIBLE_FROM = 3

function request(v: number): KafkaStruct {
  return {
    clientSoftwareName: v >= 3 ? 'apache-kafka-java' : '',
    clientSoftwareVersion: v >= 3 ? '3.7.0' : '',
  }
}

function requestBytes(v: number, topTags: readonly TaggedBytes[] = []): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  if (v >= 3) b.string('apache-kafka-java').string('3.7.0')
  return b.tags(topTags).build()
}

const API_KEYS = [
  { apiKey: 0, minVersion: 3, maxVersion: 9 },
  { apiKey: 1, minVersion: 4, maxVersion: 12 },
  { apiKey: 18, minVersion: 0, maxVersion: 3 },
]

function response(v: number): KafkaStruct {
  return {
    errorCode: 0,
    apiKeys: API_KEYS,
    throttleTimeMs: v >= 1 ? 25 : 0,
    supportedFeatures: [],
    finalizedFeaturesEpoch: -1n,
    finalizedFeatures: [],
    zkMigrationReady: false,
  }
}

function responseBytes(v: number, topTags: readonly TaggedBytes[] = []): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  b.int16(0)
  b.array(API_KEYS, (b, k) => b.int16(k.apiKey).int16(k.minVersion).int16(k.maxVersion).tags())
  if (v >= 1) b.int32(25)
  return b.tags(topTags).build()
}

for (const v of VERSIONS) {
  t.test(`ApiVersions v${v}: golden bytes, both ways, and every truncation refused`, async (t) => {
    checkGolden(t, codecOf(apiVersionsRequest, v), request(v), requestBytes(v))
    checkGolden(t, codecOf(apiVersionsResponse, v), response(v), responseBytes(v))
    checkTruncations(t, codecOf(apiVersionsResponse, v), responseBytes(v))
    if (v >= 3) checkTruncations(t, codecOf(apiVersionsRequest, v), requestBytes(v))
  })
}

t.test('ApiVersions v0-2 requests are empty bodies', async (t) => {
  for (const v of [0, 1, 2]) t.equal(requestBytes(v).length, 0, `v${v}`)
})

t.test('ApiVersionsResponse v3: the four tagged fields, tags 0-3, in tag order', async (t) => {
  const sample = {
    ...response(3),
    supportedFeatures: [{ name: 'metadata.version', minVersion: 1, maxVersion: 21 }],
    finalizedFeaturesEpoch: 42n,
    finalizedFeatures: [{ name: 'metadata.version', maxVersionLevel: 21, minVersionLevel: 21 }],
    zkMigrationReady: true,
  }
  const golden = responseBytes(3, [
    tagged(0, (b) => b.array(sample.supportedFeatures, (b, f) => b.string(f.name).int16(f.minVersion).int16(f.maxVersion).tags())),
    tagged(1, (b) => b.int64(42n)),
    tagged(2, (b) => b.array(sample.finalizedFeatures, (b, f) => b.string(f.name).int16(f.maxVersionLevel).int16(f.minVersionLevel).tags())),
    tagged(3, (b) => b.bool(true)),
  ])
  checkGolden(t, codecOf(apiVersionsResponse, 3), sample, golden)
  // Spelled out once by hand: tag 1 (finalizedFeaturesEpoch) is uvarint tag, uvarint size 8, int64 42.
  t.ok(golden.includes(Buffer.from('0108000000000000002a', 'hex')), 'tag 1 is 01 08 then the int64')
  t.ok(golden.subarray(-3).equals(Buffer.from('030101', 'hex')), 'tag 3 (zkMigrationReady) is last: 03 01 01')
  checkTruncations(t, codecOf(apiVersionsResponse, 3), golden)
})

t.test('ApiVersions v3: an unknown tagged field is skipped', async (t) => {
  t.strictSame(codecOf(apiVersionsRequest, 3).decode(requestBytes(3, [UNKNOWN_TAG])), request(3), 'request')
  t.strictSame(codecOf(apiVersionsResponse, 3).decode(responseBytes(3, [UNKNOWN_TAG])), response(3), 'response')
  const nested = bytesFor(3, FLEXIBLE_FROM).int16(0).array(API_KEYS, (b, k) => b.int16(k.apiKey).int16(k.minVersion).int16(k.maxVersion).tags([UNKNOWN_TAG])).int32(25).tags().build()
  t.strictSame(codecOf(apiVersionsResponse, 3).decode(nested), response(3), 'in each apiKeys element')
})

t.test('ApiVersions: an absurd apiKeys count is refused before anything is allocated', async (t) => {
  const classic = new Bytes({ flexible: false }).int16(0).classicCount(ABSURD_COUNT).int16(0).int16(0).int16(9).build()
  checkInvalid(t, () => codecOf(apiVersionsResponse, 2).decode(classic), 'v2 (int32 count)')
  const flexible = new Bytes({ flexible: true }).int16(0).compactCount(ABSURD_COUNT).int16(0).int16(0).int16(9).build()
  checkInvalid(t, () => codecOf(apiVersionsResponse, 3).decode(flexible), 'v3 (uvarint count)')
  const nullCount = new Bytes({ flexible: false }).int16(0).classicCount(null).int32(0).build()
  checkInvalid(t, () => codecOf(apiVersionsResponse, 1).decode(nullCount), 'a null apiKeys array (not nullable)')
})

t.test('ApiVersions: an absurd client software name length is refused', async (t) => {
  const forged = new Bytes({ flexible: true }).uvarint(0xfffffff0).raw(Buffer.from('apache')).build()
  checkInvalid(t, () => codecOf(apiVersionsRequest, 3).decode(forged), 'v3')
})
