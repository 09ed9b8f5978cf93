// AddPartitionsToTxn, AddOffsetsToTxn and EndTxn go to this broker's transaction coordinator
// (broker/txn), which answers NOT_COORDINATOR for transactional ids it does not own;
// TxnOffsetCommit goes to the group coordinator (broker/group), which answers NOT_COORDINATOR for
// groups it does not own. (InitProducerId with a transactional id: producer-ids.ts.)
//
// ListTransactions and DescribeTransactions (the tools') also go to the transaction coordinator:
// ListTransactions lists the ids of the partitions this broker leads, DescribeTransactions
// answers NOT_COORDINATOR for an id it does not own.

import { toWireCode } from '../../../client/protocol/errors.js'
import type {
  AddOffsetsToTxnRequest,
  AddOffsetsToTxnResponse,
  AddPartitionsToTxnRequest,
  AddPartitionsToTxnResponse,
  EndTxnRequest,
  EndTxnResponse,
  TxnOffsetCommitRequest,
  TxnOffsetCommitResponse,
} from '../../../client/protocol/messages/transactions.js'
import type { DescribeTransactionsRequest, DescribeTransactionsResponse, ListTransactionsRequest, ListTransactionsResponse } from '../../../client/protocol/messages/transaction-admin.js'
import { OFFSETS_TOPIC } from '../../topic-config.js'
import type { HandlerContext } from './context.js'
import { ensureInternalTopic } from './groups.js'

export async function handleAddPartitionsToTxn(ctx: HandlerContext, req: AddPartitionsToTxnRequest): Promise<AddPartitionsToTxnResponse> {
  return ctx.transactions.addPartitions(req)
}

export async function handleEndTxn(ctx: HandlerContext, req: EndTxnRequest): Promise<EndTxnResponse> {
  return { throttleTimeMs: 0, ...(await ctx.transactions.endTxn(req)) }
}

export async function handleAddOffsetsToTxn(ctx: HandlerContext, req: AddOffsetsToTxnRequest): Promise<AddOffsetsToTxnResponse> {
  // The group's offsets partition joins the transaction: it must exist, even if no group request
  // (FindCoordinator) has created the offsets topic yet; the client retries meanwhile.
  if ((ctx.quorum.image.topics.get(OFFSETS_TOPIC)?.partitions.length ?? 0) === 0) ensureInternalTopic(ctx, OFFSETS_TOPIC)
  return { throttleTimeMs: 0, errorCode: await ctx.transactions.addOffsets(req) }
}

export async function handleTxnOffsetCommit(ctx: HandlerContext, req: TxnOffsetCommitRequest): Promise<TxnOffsetCommitResponse> {
  const answer = (code: number): TxnOffsetCommitResponse => ({ throttleTimeMs: 0, topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })) })) })
  try {
    return await ctx.groups.txnCommitOffsets(req)
  } catch (err) {
    ctx.logger.error({ err, group: req.groupId }, 'transactional offset commit failed')
    return answer(toWireCode(err))
  }
}

export function handleListTransactions(ctx: HandlerContext, req: ListTransactionsRequest): ListTransactionsResponse {
  return { throttleTimeMs: 0, ...ctx.transactions.listTransactions({ states: req.stateFilters, producerIds: req.producerIdFilters }) }
}

export function handleDescribeTransactions(ctx: HandlerContext, req: DescribeTransactionsRequest): DescribeTransactionsResponse {
  const transactionStates = [...new Set(req.transactionalIds)].map((transactionalId) => ctx.transactions.describeTransaction(transactionalId))
  return { throttleTimeMs: 0, transactionStates }
}
