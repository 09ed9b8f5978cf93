// InitProducerId (any broker, from its block of ids) and AllocateProducerIds (the controller).
// With a transactional id, InitProducerId goes to the id's transaction coordinator (broker/txn),
// which keeps the id's producer id and bumps its epoch (NOT_COORDINATOR on another broker).
// Without one, every InitProducerId gets a fresh producer id at epoch 0, including a producer
// resetting itself after UNKNOWN_PRODUCER_ID or OUT_OF_ORDER_SEQUENCE_NUMBER: a new id starts its
// sequences at 0 with no state to collide with.

import { toWireCode } from '../../../client/protocol/errors.js'
import type { AllocateProducerIdsRequest, AllocateProducerIdsResponse, InitProducerIdRequest, InitProducerIdResponse } from '../../../client/protocol/messages/producer-ids.js'
import type { HandlerContext } from './context.js'

export async function handleInitProducerId(ctx: HandlerContext, req: InitProducerIdRequest): Promise<InitProducerIdResponse> {
  const refused = (code: number): InitProducerIdResponse => ({ throttleTimeMs: 0, errorCode: code, producerId: -1n, producerEpoch: -1 })
  if (req.transactionalId !== null) return ctx.transactions.initProducerId(req.transactionalId, req.transactionTimeoutMs)
  try {
    return { throttleTimeMs: 0, errorCode: 0, producerId: await ctx.producerIds.nextId(), producerEpoch: 0 }
  } catch (err) {
    return refused(toWireCode(err))
  }
}

export async function handleAllocateProducerIds(ctx: HandlerContext, req: AllocateProducerIdsRequest): Promise<AllocateProducerIdsResponse> {
  return ctx.controller.allocateProducerIds(req)
}
