'use strict'

// `npm run bench`: runs every scenario of issue 6 in child processes, prints a table of medians
// over BENCH_RUNS runs with min/max and ratios against baselines measured in the same run, and
// writes bench/results.json and bench/results.svg. Never exits non-zero for a missed target.
//
//   BENCH_RUNS=3          runs per measurement (median of these)
//   BENCH_SCALE=1         multiplies every measurement window (0.5 for a quick look)
//   BENCH_ONLY=a,b        only these scenarios: latency, throughput, seed, http, in-process,
//                         memory, ttl-sweep, failover, fsync, tls, bigmap, recover
//   BENCH_BIGMAP_10M=1    bigmap also measures 10 M keys (a few minutes more)
//   BENCH_BUDGET_S=1500   no scenario starts after this many seconds
//   BENCH_CPU_PROF=dir    run the measuring children under --cpu-prof, profiles into dir
//                         (summarise them with bench/tools/cpuprofile-top.js)

const { mkdirSync, writeFileSync } = require('node:fs')
const os = require('node:os')
const { join, relative } = require('node:path')
const { killAllNow, stop, stopAll } = require('./lib/processes')
const { redisAvailable, startRedis } = require('./lib/redis-server')
const report = require('./lib/report')
const svg = require('./lib/svg')

const SCENARIOS = ['latency', 'throughput', 'seed', 'http', 'in-process', 'memory', 'ttl-sweep', 'failover', 'fsync', 'tls', 'bigmap', 'recover']
// A scenario still running after this long is abandoned, and none starts once the whole run has
// taken BENCH_BUDGET_S: the suite is bounded even when a worker hangs.
const SCENARIO_LIMIT_MS = 180000
const BUDGET_MS = 1000 * Number(process.env.BENCH_BUDGET_S || 1500)

function config () {
  const only = (process.env.BENCH_ONLY || '').split(',').map((name) => name.trim()).filter(Boolean)
  const unknown = only.filter((name) => !SCENARIOS.includes(name))
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')}`)
  return {
    runs: Math.max(1, Number(process.env.BENCH_RUNS || 3)),
    scale: Math.max(0.1, Number(process.env.BENCH_SCALE || 1)),
    scenarios: only.length > 0 ? only : SCENARIOS
  }
}

function machine () {
  const cpus = os.cpus()
  return `${cpus.length} x ${cpus[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `Node ${process.versions.node}, ${os.platform()} ${os.release()}, load ${os.loadavg()[0].toFixed(2)} at start`
}

function withLimit (promise, name, ms) {
  let timer
  const limit = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} took longer than ${Math.round(ms / 1000)} s`)), ms)
  })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}

async function runScenarios (ctx, names, skipped) {
  const rows = []
  const deadline = Date.now() + BUDGET_MS
  for (const name of names) {
    const scenario = require(`./scenarios/${name}`)
    const started = Date.now()
    if (started >= deadline) {
      skipped.push(`${name}: the run had used its ${BUDGET_MS / 1000} s budget (BENCH_BUDGET_S)`)
      continue
    }
    ctx.log(`${name}: starting`)
    try {
      // A scenario may say it needs longer (bigmap with 10 M keys); the run's budget still holds.
      rows.push(...await withLimit(scenario.run(ctx), name, Math.min(scenario.limitMs ?? SCENARIO_LIMIT_MS, deadline - started)))
    } catch (error) {
      skipped.push(`${name}: ${error.message.split('\n').slice(0, 6).join('\n    ')}`)
      // Whatever the failed scenario left running goes now, before the next one measures.
      await stopAll()
    }
    ctx.log(`${name}: ${((Date.now() - started) / 1000).toFixed(1)} s`)
  }
  return rows
}

async function main () {
  const started = Date.now()
  const settings = config()
  const log = (message) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${message}\n`)
  const skipped = []
  const at = machine()
  let redis
  if (redisAvailable()) {
    redis = await startRedis()
    log(`private redis-server on ${redis.url} (pid ${redis.child.pid})`)
  } else {
    skipped.push('Redis baselines: redis-server not found on PATH')
  }
  try {
    const ctx = { ...settings, redisUrl: redis?.url, log }
    const rows = await runScenarios(ctx, settings.scenarios, skipped)
    const seconds = (Date.now() - started) / 1000
    const meta = { date: new Date().toISOString(), machine: at, runs: settings.runs, scale: settings.scale, seconds, skipped }
    console.log(report.text(rows, { machine: at, seconds, skipped }))
    // A partial or profiled run must not replace the results of a full one.
    const partial = settings.scenarios.length < SCENARIOS.length || Boolean(process.env.BENCH_CPU_PROF)
    const dir = partial ? join(__dirname, '.tmp') : __dirname
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'results.json'), JSON.stringify(report.json(rows, meta), null, 2) + '\n')
    writeFileSync(join(dir, 'results.svg'), svg.render(rows, at))
    console.log(`wrote ${relative(process.cwd(), dir) || '.'}/results.json and results.svg`)
  } finally {
    await stop(redis?.child)
    await stopAll()
  }
}

process.on('exit', killAllNow)
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAllNow()
    process.exit(130)
  })
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
