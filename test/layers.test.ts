// The import rules of DESIGN.md's "Layers and folders", checked by walking every import of every
// source file (static `import ... from`, `export ... from`, and `import('...')`):
//
//   client/                      never imports broker/
//   client/protocol, client/net  import nothing else of client/: the wire and the transport, which
//                                the broker shares (followers fetch with the consumers' Fetch; the
//                                quorum, controller channel and marker writer use the connection)
//   broker/ (but broker/local/)  imports of client/ only client/protocol and client/net
//   broker/local/                the launcher and the local cluster: tooling that starts brokers
//                                and drives them with the client, so it may import either side;
//                                nothing else in broker/ imports it
//
// A rule broken names the file, the line and what it imported.

import { readFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { REPO_ROOT, sourceFiles } from './helpers/source-files.js'

const ROOT = REPO_ROOT

interface Import {
  /** The importing file, relative to the repository root. */
  from: string
  line: number
  /** The imported file, relative to the repository root (.js specifiers mapped to their .ts). */
  to: string
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm

/** The relative imports of `file`: other packages and node: built-ins are not layers. */
function importsOf(file: string, text: string): Import[] {
  const found: Import[] = []
  for (const m of text.matchAll(SPECIFIER)) {
    const target = path.normalize(path.join(path.dirname(file), m[1]!)).replace(/\.js$/, '.ts')
    found.push({ from: file, line: text.slice(0, m.index).split('\n').length, to: target })
  }
  return found
}

const under = (file: string, dir: string): boolean => file === dir || file.startsWith(`${dir}/`)

/** The rule `i` breaks, or null. */
function violation(i: Import): string | null {
  const wire = under(i.to, 'client/protocol') || under(i.to, 'client/net')
  if (under(i.from, 'client') && under(i.to, 'broker')) return 'client/ never imports broker/'
  if ((under(i.from, 'client/protocol') || under(i.from, 'client/net')) && under(i.to, 'client') && !wire) {
    return 'client/protocol and client/net import nothing else of client/'
  }
  if (under(i.from, 'broker') && !under(i.from, 'broker/local')) {
    if (under(i.to, 'client') && !wire) return 'the broker imports of client/ only client/protocol and client/net'
    if (under(i.to, 'broker/local')) return 'nothing in broker/ outside broker/local/ imports the local-cluster tooling'
  }
  return null
}

t.test('the rules themselves catch what they are meant to', async (t) => {
  const check = (from: string, spec: string): string | null => importsOf(from, `import { x } from '${spec}'`).map(violation)[0] ?? null
  t.match(check('broker/replication/replica-fetcher.ts', '../../client/consumer.js'), /only client\/protocol and client\/net/)
  t.match(check('client/producer.ts', '../broker/log/log.js'), /never imports broker/)
  t.match(check('client/net/connection.ts', '../errors.js'), /nothing else of client/)
  t.match(check('broker/main.ts', './local/launcher.js'), /local-cluster tooling/)
  t.equal(check('broker/replication/replica-fetcher.ts', '../../client/net/connection.js'), null)
  t.equal(check('broker/local/local-cluster-secure.ts', '../../client/index.js'), null, 'tooling may use the client')
  t.same(
    importsOf('broker/a.ts', "import type { A } from './b.js'\nexport { C } from '../client/c.js'\nconst m = await import('./d.js')\nimport './e.js'\nimport pino from 'pino'").map((i) => [i.line, i.to]),
    [[1, 'broker/b.ts'], [2, 'client/c.ts'], [3, 'broker/d.ts'], [4, 'broker/e.ts']],
    'static, re-exported, dynamic and bare imports are all seen; packages are not layers',
  )
})

t.test('every import in broker/ and client/ keeps to the layers', async (t) => {
  const files = [...(await sourceFiles('broker')), ...(await sourceFiles('client'))]
  t.ok(files.length > 100, `${files.length} source files walked`)
  const imports: Import[] = []
  for (const f of files) imports.push(...importsOf(f, await readFile(path.join(ROOT, f), 'utf8')))
  t.ok(imports.some((i) => under(i.from, 'broker') && under(i.to, 'client/net')), 'the broker does use the shared transport')
  const broken = imports.flatMap((i) => {
    const why = violation(i)
    return why === null ? [] : [`${i.from}:${i.line} imports ${i.to}: ${why}`]
  })
  t.same(broken, [], 'no import crosses a layer edge')
})
