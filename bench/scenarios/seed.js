'use strict'

// The seed's pattern (lock, get, set, release) and the atomic incr from 4 client workers, against
// Python's multiprocessing BaseManager doing `with lock: d['n'] += 1` from 4 processes. The lock
// rows run twice, on a quiet machine and with CPU-burning processes alongside both sides, and
// each condition's Python runs in the same run, interleaved with the plugin's measurements. Each
// case is warmed in its own shape until its rate stops rising, before any burner starts: Python
// has no compiler to wait for, and an app's workers run warm, so the plugin's figure is its
// steady state, not V8's ramp.

const { join } = require('node:path')
const { withBurners, BURNERS } = require('../lib/cpu-burners')
const { commandRuns, freePort, scope, startProgram, stop } = require('../lib/processes')
const { row } = require('../lib/rows')
const { TARGETS } = require('../lib/targets')
const { loadTogether, startLoaders, warmUntilSteady, warmUp, WORKERS } = require('./load')

const HOST = join(__dirname, '..', 'workers', 'host.js')
const PYTHON_SCRIPT = join(__dirname, '..', 'baselines', 'manager_counter.py')

const CONDITIONS = [
  { id: 'quiet', label: 'quiet machine', burners: 0 },
  { id: 'busy', label: `${BURNERS} CPU-burning processes alongside`, burners: BURNERS }
]

// Lock sections, in both placements: client workers of a separate host, and one of the 4 workers
// hosting (as the plugin runs in a 4-worker app; its own calls skip the socket). The target is
// the section as the README and the example app write it (`{ read }`); the same section with each
// step its own awaited call runs beside it, for comparison.
const LOCK_CASES = [
  { id: 'seedRead', op: 'seedRead', inflight: 1, inApp: false, label: 'seed pattern with { read } (grant brings get, release takes set) x 1 in flight, separate host', target: TARGETS.seed },
  { id: 'seed', op: 'seed', inflight: 1, inApp: false, label: 'the same, each step its own call (withLock; await get; await set), separate host' },
  { id: 'seedReadInApp', op: 'seedRead', inflight: 1, inApp: true, label: 'seed pattern with { read } x 1 in flight, one of the 4 workers hosting', target: TARGETS.seed },
  { id: 'seedInApp', op: 'seed', inflight: 1, inApp: true, label: 'the same, each step its own call, one of the 4 workers hosting' }
]

const INCR_CASES = [
  { id: 'incr1', op: 'incr', inflight: 1, label: 'atomic incr x 1 in flight' },
  { id: 'incr64', op: 'incr', inflight: 64, label: 'atomic incr x 64 in flight', target: TARGETS.atomic }
]

function pythonAvailable () {
  return commandRuns('python3', ['--version'])
}

/** Runs the Python script to completion (bounded) and parses its JSON line. */
async function runPython (seconds) {
  const child = startProgram('python3', [PYTHON_SCRIPT, String(await freePort()), String(WORKERS), String(seconds)], {
    name: 'python BaseManager'
  })
  const timer = setTimeout(() => stop(child, { signal: 'SIGKILL' }), (seconds + 30) * 1000)
  try {
    const [code] = await new Promise((resolve) => child.once('exit', (...args) => resolve(args)))
    if (code !== 0) throw new Error(`python BaseManager exited with ${code}:\n${child.output}`)
    const result = JSON.parse(child.output.trim().split('\n').pop())
    if (result.final !== result.ops) throw new Error(`python counted ${result.final} for ${result.ops} increments`)
    return result.rate
  } finally {
    clearTimeout(timer)
    await stop(child)
  }
}

/**
 * The 4 loaders of one placement: clients of a separate host, or one of them hosting. Each case
 * is warmed quiet, then `burners` start (if any) and stay for the measured windows: an app's
 * workers meet a busy machine warm, while from cold under two burners the compiler's threads
 * get so little CPU that the ramp outlasts any warm-up window worth waiting for.
 */
async function measurePlacement (inApp, cases, samples, window, { withIncr, burners }) {
  const env = { BENCH_SHARED_PORT: String(await freePort()) }
  if (inApp) env.BENCH_WORKER_HOSTS = '1'
  await scope(async (start) => {
    if (!inApp) await start(HOST, { env, name: 'seed host' })
    const loaders = await startLoaders(start, 'shared', env)
    await warmUp(loaders, [...(withIncr ? ['incr'] : []), ...new Set(cases.map((each) => each.op))], window.warmupMs * 2)
    for (const each of cases) await warmUntilSteady(loaders, each, window.warmupMs)
    const measure = async () => {
      for (const each of cases) samples[each.id].push(await loadTogether(loaders, { ...each, ...window }))
      if (withIncr) for (const each of INCR_CASES) samples[each.id].push(await loadTogether(loaders, { ...each, ...window }))
    }
    if (burners === 0) await measure()
    else await withBurners(measure, burners)
  })
}

/** One run of every lock case and of Python under `condition`. */
async function measureCondition (condition, samples, window, python, seconds) {
  const own = samples[condition.id]
  const { burners } = condition
  await measurePlacement(false, LOCK_CASES.filter((each) => !each.inApp), own, window, { withIncr: burners === 0, burners })
  await measurePlacement(true, LOCK_CASES.filter((each) => each.inApp), own, window, { withIncr: false, burners })
  if (python) {
    const measure = () => runPython(seconds)
    own.python.push(burners === 0 ? await measure() : await withBurners(measure, burners))
  }
}

function emptySamples () {
  return Object.fromEntries([...LOCK_CASES, ...INCR_CASES, { id: 'python' }].map((each) => [each.id, []]))
}

async function run (ctx) {
  const python = pythonAvailable()
  const window = { warmupMs: Math.round(200 * ctx.scale), durationMs: Math.round(800 * ctx.scale) }
  const samples = Object.fromEntries(CONDITIONS.map((condition) => [condition.id, emptySamples()]))
  for (let i = 0; i < ctx.runs; i++) {
    // Alternating the order spreads any drift of the machine's load over both conditions.
    const order = i % 2 === 0 ? CONDITIONS : [...CONDITIONS].reverse()
    for (const condition of order) {
      ctx.log(`seed pattern run ${i + 1}/${ctx.runs}, ${condition.label}`)
      await measureCondition(condition, samples, window, python, 1.5 * ctx.scale)
    }
  }
  const rows = []
  for (const condition of CONDITIONS) {
    const own = samples[condition.id]
    const baseline = python ? `Python BaseManager, with lock: d[n] += 1, 4 processes (${condition.label})` : 'Python BaseManager'
    const cases = condition.burners === 0 ? [...LOCK_CASES, ...INCR_CASES] : LOCK_CASES
    for (const each of cases) {
      rows.push(row({
        group: `Seed pattern and atomic incr from 4 workers, ${condition.label}`,
        label: each.label,
        unit: 'ops/s',
        samples: own[each.id],
        vs: [python
          ? { label: baseline, samples: own.python, target: each.target }
          : { label: baseline, na: 'n/a: python3 not found', target: each.target }]
      }))
    }
  }
  return rows
}

module.exports = { name: 'seed', run }
