'use strict'

// Top self-time functions of the .cpuprofile files in a directory, per kind of process.
//
//   BENCH_CPU_PROF=bench/.tmp/prof BENCH_ONLY=throughput BENCH_RUNS=1 node bench/run.js
//   node bench/tools/cpuprofile-top.js bench/.tmp/prof [top=15]
//
// Profiles are named <process>.<n>.cpuprofile by bench/lib/processes.js; those of one kind
// (e.g. the four "shared-load-client-*") are summed.

const { readdirSync, readFileSync } = require('node:fs')
const { join, relative } = require('node:path')

const ROOT = join(__dirname, '..', '..')

function kindOf (file) {
  return file.replace(/\.\d+\.cpuprofile$/, '').replace(/-\d+$/, '')
}

function where (frame) {
  if (!frame.url) return ''
  const path = frame.url.replace(/^file:\/\//, '')
  const shown = path.startsWith(ROOT) ? relative(ROOT, path).replace(/^node_modules\//, '') : path
  return `${shown}:${frame.lineNumber + 1}`
}

/** Self time in µs per function (name + location) of one profile. */
function selfTimes (profile, into) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i])
    const frame = node.callFrame
    const name = `${frame.functionName || '(anonymous)'} ${where(frame)}`.trim()
    into.set(name, (into.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  return into
}

function main () {
  const dir = process.argv[2]
  const top = Number(process.argv[3] || 15)
  if (!dir) throw new Error('usage: node bench/tools/cpuprofile-top.js <dir> [top]')
  const kinds = new Map()
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'))) {
    const kind = kindOf(file)
    kinds.set(kind, selfTimes(JSON.parse(readFileSync(join(dir, file), 'utf8')), kinds.get(kind) ?? new Map()))
  }
  for (const [kind, times] of kinds) {
    // Idle time says only that the process waited (for the peer, or for its turn in the run);
    // shares are of the time it was busy.
    const idle = times.get('(idle)') ?? 0
    times.delete('(idle)')
    const busy = [...times.values()].reduce((sum, us) => sum + us, 0)
    console.log(`\n${kind}: ${(busy / 1000).toFixed(0)} ms busy, ${(idle / 1000).toFixed(0)} ms idle`)
    const ranked = [...times.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
    for (const [name, us] of ranked) {
      console.log(`  ${(100 * us / busy).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`)
    }
  }
}

main()
