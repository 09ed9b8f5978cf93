import t from 'tap'
import { errorCodeOf, errorFromCode, StrandError, StrandProtocolError, toWireCode, WIRE_ERRORS, type WireErrorName } from '../../../client/protocol/errors.js'

t.test('the wire error table has unique codes and explicit flags', async (t) => {
  const names = Object.keys(WIRE_ERRORS) as WireErrorName[]
  const codes = names.map((n) => WIRE_ERRORS[n].code)
  t.equal(new Set(codes).size, codes.length, 'no duplicate codes')
  for (const n of names) {
    t.equal(typeof WIRE_ERRORS[n].retriable, 'boolean', `${n} has an explicit retriable flag`)
    t.ok(WIRE_ERRORS[n].message.length > 0, `${n} has a message`)
  }
})

t.test('codes map to typed errors and back', async (t) => {
  for (const name of Object.keys(WIRE_ERRORS) as WireErrorName[]) {
    if (name === 'NONE') continue
    const err = errorFromCode(WIRE_ERRORS[name].code)
    t.ok(err instanceof StrandProtocolError && err instanceof StrandError && err instanceof Error)
    t.equal(err?.code, name)
    t.equal(err?.retriable, WIRE_ERRORS[name].retriable)
    t.equal(err?.name, 'StrandProtocolError')
    t.equal(toWireCode(err), WIRE_ERRORS[name].code)
  }
  t.equal(errorFromCode(0), null)
  const unknown = errorFromCode(31337, 'from the future')
  t.equal(unknown?.code, 'UNKNOWN_SERVER_ERROR')
  t.match(unknown?.message, /31337/)
  t.equal(toWireCode(new Error('bug')), -1, 'an untyped error is UNKNOWN_SERVER_ERROR on the wire')
})

t.test('retriable flags that clients depend on', async (t) => {
  t.equal(WIRE_ERRORS.NOT_LEADER_OR_FOLLOWER.retriable, true)
  t.equal(WIRE_ERRORS.NOT_ENOUGH_REPLICAS.retriable, true)
  t.equal(WIRE_ERRORS.INVALID_TOPIC.retriable, false)
  t.equal(WIRE_ERRORS.MESSAGE_TOO_LARGE.retriable, false)
  t.equal(WIRE_ERRORS.UNSUPPORTED_VERSION.retriable, false)
})

t.test('an operating-system I/O error maps to the retriable KAFKA_STORAGE_ERROR', async (t) => {
  const eio = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO', syscall: 'write', errno: -5 })
  t.equal(toWireCode(eio), errorCodeOf('KAFKA_STORAGE_ERROR'))
  t.equal(errorFromCode(toWireCode(eio))?.retriable, true)
  t.equal(toWireCode(new Error('a bug')), errorCodeOf('UNKNOWN_SERVER_ERROR'))
  t.equal(toWireCode(new StrandProtocolError('INVALID_TOPIC')), errorCodeOf('INVALID_TOPIC'))
})
