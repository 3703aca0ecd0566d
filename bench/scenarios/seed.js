'use strict'

// The seed's pattern (lock, get, set, release) and the atomic incr from 4 client workers, against
// Python's multiprocessing BaseManager doing `with lock: d['n'] += 1` from 4 processes.

const { join } = require('node:path')
const { commandRuns, freePort, scope, startProgram, stop } = require('../lib/processes')
const { row } = require('../lib/rows')
const { TARGETS } = require('../lib/targets')
const { loadTogether, startLoaders, warmUp, WORKERS } = require('./load')

const HOST = join(__dirname, '..', 'workers', 'host.js')
const PYTHON_SCRIPT = join(__dirname, '..', 'baselines', 'manager_counter.py')

// The same pattern where one of the 4 workers hosts, as the plugin runs in a 4-worker app; its
// own calls skip the socket.
const IN_APP = { id: 'seedInApp', op: 'seed', inflight: 1, label: 'seed pattern x 1 in flight, one of the 4 workers hosting', target: TARGETS.seed }

const CASES = [
  { id: 'seed', op: 'seed', inflight: 1, label: 'seed pattern (lock, get, set, release) x 1 in flight', target: TARGETS.seed },
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

async function measurePlugin (ctx, samples, window) {
  const env = { BENCH_SHARED_PORT: String(await freePort()) }
  await scope(async (start) => {
    await start(HOST, { env, name: 'seed host' })
    const loaders = await startLoaders(start, 'shared', env)
    await warmUp(loaders, ['incr', 'seed'], window.warmupMs * 2)
    for (const each of CASES) samples[each.id].push(await loadTogether(loaders, { ...each, ...window }))
  })
}

async function measureInApp (ctx, samples, window) {
  const env = { BENCH_SHARED_PORT: String(await freePort()), BENCH_WORKER_HOSTS: '1' }
  await scope(async (start) => {
    const loaders = await startLoaders(start, 'shared', env)
    await warmUp(loaders, ['seed'], window.warmupMs * 2)
    samples[IN_APP.id].push(await loadTogether(loaders, { ...IN_APP, ...window }))
  })
}

async function run (ctx) {
  const python = pythonAvailable()
  const window = { warmupMs: Math.round(200 * ctx.scale), durationMs: Math.round(800 * ctx.scale) }
  const samples = { seed: [], seedInApp: [], incr1: [], incr64: [], python: [] }
  for (let i = 0; i < ctx.runs; i++) {
    ctx.log(`seed pattern run ${i + 1}/${ctx.runs}`)
    await measurePlugin(ctx, samples, window)
    await measureInApp(ctx, samples, window)
    if (python) samples.python.push(await runPython(1.5 * ctx.scale))
  }
  const baseline = python ? 'Python BaseManager, with lock: d[n] += 1, 4 processes' : 'Python BaseManager'
  return [CASES[0], IN_APP, ...CASES.slice(1)].map((each) => row({
    group: 'Seed pattern and atomic incr from 4 workers (client workers of a separate host, unless noted)',
    label: each.label,
    unit: 'ops/s',
    samples: samples[each.id],
    vs: [python
      ? { label: baseline, samples: samples.python, target: each.target }
      : { label: baseline, na: 'n/a: python3 not found', target: each.target }]
  }))
}

module.exports = { name: 'seed', run }
