// Output lines of a demo child process (the cluster, a sink), kept for diagnostics.

import type { ChildProcess } from 'node:child_process'

/** Calls `onLine` with each whole line of the child's stdout and stderr, after keeping the last `keep` in `output`. */
export function followLines(child: ChildProcess, output: string[], keep: number, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue
    let rest = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        output.push(line)
        if (output.length > keep) output.shift()
        onLine(line)
      }
    })
  }
}
