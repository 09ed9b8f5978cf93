// The `strand` command: topics, produce and consume, consumer groups and metrics against a running
// cluster.
//
//   strand topics list | create | describe | delete
//   strand produce <topic>          lines from stdin
//   strand consume <topic>          records to stdout (--group G: as a member of group G)
//   strand groups list | describe | reset-offsets
//   strand transactions list | describe    transactional ids and their coordinators' state
//   strand cluster status           controller, brokers, quorum, replication lag per follower
//   strand cluster metrics          each broker's metrics (over the wire, or --metrics: /metrics), summed up
//   strand users create | delete | list    SCRAM users
//   strand acls add | remove | list         ACLs, with Kafka's flag shapes
//
// Exit codes: 0 success, 1 the cluster said no (or could not be reached), 2 bad arguments.

import { Strand, StrandError } from './index.js'
import { bootstrapOf, CommandFailedError, securityOf, UsageError, type ConnectFlags } from './cli/args.js'
import { ACLS_USAGE, aclsCommand, USERS_USAGE, usersCommand } from './cli/security.js'
import { CLUSTER_USAGE, clusterCommand } from './cli/cluster.js'
import { GROUPS_USAGE, groupsCommand } from './cli/groups.js'
import { CONSUME_USAGE, consumeCommand, PRODUCE_USAGE, produceCommand } from './cli/produce-consume.js'
import { TOPICS_USAGE, topicsCommand } from './cli/topics.js'
import { TRANSACTIONS_USAGE, transactionsCommand } from './cli/transactions.js'

const USAGE = `strand: the Strand command line

Usage: strand <command> [options]

Commands:
  topics    list, create, describe and delete topics
  produce   send lines from stdin to a topic
  consume   print a topic's records (--group G: as a member of a consumer group)
  groups    list and describe consumer groups, reset their offsets
  transactions  list and describe transactional ids: state, producer, open partitions
  cluster   the controller, brokers and metadata quorum; the brokers' metrics
  users     SCRAM users: create, delete, list
  acls      ACLs: add, remove, list

Common options:
  -b, --bootstrap host:port[,host:port]   brokers to ask first (default $STRAND_BOOTSTRAP or 127.0.0.1:9092)
  --command-config FILE                   TLS and SASL settings (default $STRAND_COMMAND_CONFIG): security.protocol,
                                          sasl.mechanism, sasl.username, sasl.password, ssl.ca.location,
                                          ssl.certificate.location, ssl.key.location ($STRAND_SASL_USERNAME and
                                          $STRAND_SASL_PASSWORD override the file's)
  --json                                  machine-readable output
  -h, --help                              help for a command

${TOPICS_USAGE}

${PRODUCE_USAGE}

${CONSUME_USAGE}

${GROUPS_USAGE}

${TRANSACTIONS_USAGE}

${CLUSTER_USAGE}

${USERS_USAGE}

${ACLS_USAGE}`

/** A failed connection should fail the command quickly, not retry for the client's usual 13 s. */
const CLI_RETRY = { retriesMax: 3, retryBackoffMs: 100, retryBackoffMsMax: 500 }

function connect(flags: ConnectFlags): Strand {
  return new Strand({ brokers: bootstrapOf(flags.bootstrap), clientId: 'strand-cli', connectTimeoutMs: 5_000, requestTimeoutMs: 15_000, retry: CLI_RETRY, ...securityOf(flags) })
}

/** Common options that take a value, accepted before the command too (`strand --command-config F topics list`). */
const LEADING_OPTIONS = new Set(['--bootstrap', '-b', '--command-config'])

/** The command and its arguments, with common options given before the command moved after it. */
function commandFirst(argv: string[]): string[] {
  const leading: string[] = []
  let i = 0
  while (i < argv.length && LEADING_OPTIONS.has(argv[i] as string) && i + 1 < argv.length) {
    leading.push(argv[i] as string, argv[i + 1] as string)
    i += 2
  }
  const [command, ...rest] = argv.slice(i)
  return command === undefined ? leading : [command, ...rest, ...leading]
}

export async function runCli(argv: string[], out: (text: string) => void = (t) => process.stdout.write(`${t}\n`)): Promise<number> {
  const [command, ...rest] = commandFirst(argv)
  try {
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      out(USAGE)
      return command === undefined ? 2 : 0
    }
    if (command === 'topics') await topicsCommand(rest, connect, out)
    else if (command === 'produce') await produceCommand(rest, connect, out, process.stdin)
    else if (command === 'consume') await consumeCommand(rest, connect, out)
    else if (command === 'groups') await groupsCommand(rest, connect, out)
    else if (command === 'transactions') await transactionsCommand(rest, connect, out)
    else if (command === 'cluster') await clusterCommand(rest, connect, out)
    else if (command === 'users') await usersCommand(rest, connect, out)
    else if (command === 'acls') await aclsCommand(rest, connect, out)
    else throw new UsageError(`Unknown command "${command}". Run strand --help.`)
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`strand: ${err.message}\n`)
      return 2
    }
    if (err instanceof CommandFailedError) {
      process.stderr.write(`strand: ${err.message}\n`)
      return 1
    }
    if (err instanceof StrandError) {
      // A broker that closes the connection at once is often one that wants TLS or SASL.
      const hint = err.code === 'CONNECTION_ERROR' ? '\n  (If the cluster uses TLS or SASL, give its settings with --command-config FILE; see strand --help.)' : ''
      process.stderr.write(`strand: ${err.code}: ${err.message}${hint}\n`)
      return 1
    }
    throw err
  }
}

// Run when executed directly (`tsx client/cli.ts`); client/bin/strand.mjs calls runCli itself.
if (process.argv[1] !== undefined && /cli\.ts$/.test(process.argv[1])) {
  process.exitCode = await runCli(process.argv.slice(2))
}
