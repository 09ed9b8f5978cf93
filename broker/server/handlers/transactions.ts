// AddPartitionsToTxn, AddOffsetsToTxn and EndTxn go to this broker's transaction coordinator
// (broker/txn), which answers NOT_COORDINATOR for transactional ids it does not own;
// TxnOffsetCommit goes to the group coordinator (broker/group), which answers NOT_COORDINATOR for
// groups it does not own. (InitProducerId with a transactional id: producer-ids.ts.)
//
// ListTransactions and DescribeTransactions (the tools') also go to the transaction coordinator:
// ListTransactions lists the ids of the partitions this broker leads, DescribeTransactions
// answers NOT_COORDINATOR for an id it does not own. A broker whose coordinator has not started
// answers COORDINATOR_NOT_AVAILABLE; for ListTransactions that means it leads none (Kafka's tools
// read it so).

import { errorCodeOf, toWireCode } from '../../../client/protocol/errors.js'
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
  const txn = ctx.transactions()
  if (txn === null) {
    const code = errorCodeOf('COORDINATOR_NOT_AVAILABLE')
    return { throttleTimeMs: 0, results: req.topics.map((t) => ({ name: t.name, results: t.partitions.map((partitionIndex) => ({ partitionIndex, errorCode: code })) })) }
  }
  return txn.addPartitions(req)
}

export async function handleEndTxn(ctx: HandlerContext, req: EndTxnRequest): Promise<EndTxnResponse> {
  const txn = ctx.transactions()
  if (txn === null) return { throttleTimeMs: 0, errorCode: errorCodeOf('COORDINATOR_NOT_AVAILABLE') }
  return { throttleTimeMs: 0, errorCode: await txn.endTxn(req) }
}

export async function handleAddOffsetsToTxn(ctx: HandlerContext, req: AddOffsetsToTxnRequest): Promise<AddOffsetsToTxnResponse> {
  const txn = ctx.transactions()
  if (txn === null) return { throttleTimeMs: 0, errorCode: errorCodeOf('COORDINATOR_NOT_AVAILABLE') }
  // The group's offsets partition joins the transaction: it must exist, even if no group request
  // (FindCoordinator) has created the offsets topic yet; the client retries meanwhile.
  const image = ctx.quorum()?.image
  if (image !== undefined && (image.topics.get(OFFSETS_TOPIC)?.partitions.length ?? 0) === 0) ensureInternalTopic(ctx, OFFSETS_TOPIC)
  return { throttleTimeMs: 0, errorCode: await txn.addOffsets(req) }
}

export async function handleTxnOffsetCommit(ctx: HandlerContext, req: TxnOffsetCommitRequest): Promise<TxnOffsetCommitResponse> {
  const answer = (code: number): TxnOffsetCommitResponse => ({ throttleTimeMs: 0, topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })) })) })
  const groups = ctx.groups()
  if (groups === null) return answer(errorCodeOf('COORDINATOR_NOT_AVAILABLE'))
  try {
    return await groups.txnCommitOffsets(req)
  } catch (err) {
    ctx.logger.error({ err, group: req.groupId }, 'transactional offset commit failed')
    return answer(toWireCode(err))
  }
}

export function handleListTransactions(ctx: HandlerContext, req: ListTransactionsRequest): ListTransactionsResponse {
  const txn = ctx.transactions()
  if (txn === null) return { throttleTimeMs: 0, errorCode: errorCodeOf('COORDINATOR_NOT_AVAILABLE'), unknownStateFilters: [], transactionStates: [] }
  return { throttleTimeMs: 0, ...txn.listTransactions({ states: req.stateFilters, producerIds: req.producerIdFilters }) }
}

export function handleDescribeTransactions(ctx: HandlerContext, req: DescribeTransactionsRequest): DescribeTransactionsResponse {
  const txn = ctx.transactions()
  const unavailable = errorCodeOf('COORDINATOR_NOT_AVAILABLE')
  const transactionStates = [...new Set(req.transactionalIds)].map((transactionalId) =>
    txn === null
      ? { errorCode: unavailable, transactionalId, transactionState: '', transactionTimeoutMs: 0, transactionStartTimeMs: -1n, producerId: -1n, producerEpoch: -1, topics: [] }
      : txn.describeTransaction(transactionalId),
  )
  return { throttleTimeMs: 0, transactionStates }
}
