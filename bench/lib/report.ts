// The shared runner pieces of every benchmark: flags, a progress line on stderr, a table or one
// JSON object on stdout, and the results file `bench/results/<date>-<workload>.json`.

import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const RESULTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'results')

export interface Row {
  /** What was measured ("produce acks=1"). */
  name: string
  /** Figures, printed in insertion order; numbers are rounded for the table, kept whole in JSON. */
  figures: Record<string, number | string>
  /** The rows of one section print together as their own table under this title, with their own columns. */
  section?: string
}

/** A target the figures are held to, and whether this run met it. */
export interface Goal {
  /** What is measured ("produce acks=all"). */
  name: string
  /** The target as written in the issue (">= 500,000"). */
  target: string
  /** The figure held to it; null when this run could not measure it (n/a). */
  value: number | null
  unit: string
  /** null when not measured. */
  met: boolean | null
}

export interface Report {
  workload: string
  command: string
  params: Record<string, unknown>
  rows: Row[]
  goals?: Goal[]
  /** Sentences printed under the table (what a figure means, whether a goal was met); kept in JSON. */
  notes?: string[]
}

export function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus()
  return {
    node: process.version,
    // This process's own Node flags (npm run bench sets its collector flags), not tsx's loader hooks.
    nodeFlags: process.execArgv.filter((a, i, all) => a.startsWith('--') && !['--import', '--require'].includes(a) && !['--import', '--require'].includes(all[i - 1] ?? '')),
    platform: `${os.platform()} ${os.release()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  }
}

/** Overwrites one stderr line with `text` (a no-op when stderr is not a terminal). */
export function progress(text: string): void {
  if (!process.stderr.isTTY) return
  process.stderr.write(`\r\x1b[2K${text}`)
}

export function progressDone(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K')
}

function fmt(v: number | string): string {
  if (typeof v === 'string') return v
  if (!Number.isFinite(v)) return String(v)
  // Counts (records, samples, offsets) read as counts.
  if (Number.isInteger(v) || Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US')
  if (Math.abs(v) >= 10) return v.toFixed(1)
  return v.toFixed(3)
}

/** A plain text table: one line per row, one column per figure key seen in any row. */
export function formatTable(rows: readonly Row[], title = ''): string {
  const keys: string[] = []
  for (const r of rows) for (const k of Object.keys(r.figures)) if (!keys.includes(k)) keys.push(k)
  const header = [title, ...keys]
  const lines = rows.map((r) => [r.name, ...keys.map((k) => (r.figures[k] === undefined ? '' : fmt(r.figures[k] as number | string)))])
  return alignColumns(header, lines)
}

/** Rows grouped by section, sections in the order they first appear, rows in their order. */
function sections(rows: readonly Row[]): { title: string; rows: Row[] }[] {
  const out = new Map<string, Row[]>()
  for (const r of rows) {
    const title = r.section ?? ''
    const group = out.get(title)
    if (group === undefined) out.set(title, [r])
    else group.push(r)
  }
  return [...out].map(([title, group]) => ({ title, rows: group }))
}

function formatGoals(goals: readonly Goal[]): string {
  const lines = goals.map((g) => [g.name, g.target, g.value === null ? 'n/a' : `${fmt(g.value)} ${g.unit}`.trim(), g.met === null ? 'n/a' : g.met ? 'met' : 'MISSED'])
  return alignColumns(['goal', 'target', 'measured', 'result'], lines)
}

/** The first column left-aligned, the others right-aligned, under a dashed rule. */
function alignColumns(header: string[], lines: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)))
  const pad = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ')
  return [pad(header), pad(widths.map((w) => '-'.repeat(w))), ...lines.map(pad)].join('\n')
}

/** Prints the report (table or JSON) and writes the results file; returns the file's path. */
export function publish(report: Report, options: { json: boolean }): string {
  const full = { ...report, machine: machineInfo(), date: new Date().toISOString() }
  mkdirSync(RESULTS_DIR, { recursive: true })
  const file = path.join(RESULTS_DIR, `${full.date.slice(0, 10)}-${report.workload}.json`)
  writeFileSync(file, `${JSON.stringify(full, null, 2)}\n`)
  if (options.json) {
    process.stdout.write(`${JSON.stringify(full)}\n`)
  } else {
    const m = full.machine
    process.stdout.write(`\n${report.workload}: ${report.command}\n`)
    process.stdout.write(`machine: ${String(m.cpus)} x ${String(m.cpuModel)}, ${String(m.memoryGiB)} GiB, ${String(m.platform)}, node ${String(m.node)}${(m.nodeFlags as string[]).length > 0 ? ` ${(m.nodeFlags as string[]).join(' ')}` : ''}\n\n`)
    process.stdout.write(`${sections(report.rows).map((sec) => formatTable(sec.rows, sec.title)).join('\n\n')}\n`)
    if (report.goals !== undefined && report.goals.length > 0) process.stdout.write(`\n${formatGoals(report.goals)}\n`)
    if (report.notes !== undefined && report.notes.length > 0) process.stdout.write(`\n${report.notes.map((n) => `- ${n}`).join('\n')}\n`)
    process.stdout.write(`\nresults: ${path.relative(process.cwd(), file)}\n`)
  }
  return file
}

/** Mebibytes per second from bytes and milliseconds (MB/s in our tables means MiB/s). */
export function mbPerSec(bytes: number, ms: number): number {
  return bytes / 2 ** 20 / (ms / 1000)
}

export function perSec(count: number, ms: number): number {
  return count / (ms / 1000)
}
