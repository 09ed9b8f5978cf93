// The repository's TypeScript source files, for the tests that check rules over the whole tree
// (test/layers.test.ts: imports; test/structure.test.ts: sizes).

import { readdir } from 'node:fs/promises'
import path from 'node:path'

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..')

/** Every `.ts` file under `dir` (relative to the repository root), as paths relative to it. */
export async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(path.join(REPO_ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await sourceFiles(rel)))
    else if (entry.name.endsWith('.ts')) out.push(rel)
  }
  return out
}
