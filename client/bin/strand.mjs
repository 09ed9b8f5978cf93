#!/usr/bin/env node
// The `strand` executable: registers tsx (resolved next to this file, so it works from any
// directory) and runs the TypeScript CLI.
import { register } from 'tsx/esm/api'

register()
const { runCli } = await import('../cli.ts')
process.exitCode = await runCli(process.argv.slice(2))
