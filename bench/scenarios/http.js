'use strict'

// The example app's counter routes on a 4-worker cluster under autocannon (in its own process):
// atomic /incr, the seed's locked /, the per-worker global /local (wrong, the ceiling), the same
// app in the plugin's Redis mode, and the route written directly on ioredis (the Redis baseline).

const { existsSync } = require('node:fs')
const { join } = require('node:path')
const { call, freePort, scope, stop, waitForOutput } = require('../lib/processes')
const { BENCH_KEY } = require('../lib/plugin-app')
const { withBurners, BURNERS } = require('../lib/cpu-burners')
const { row, naRow } = require('../lib/rows')
const { TARGETS } = require('../lib/targets')

const ROOT = join(__dirname, '..', '..')
const EXAMPLE = join(ROOT, 'example-app', 'cluster.js')
const REDIS_CLUSTER = join(__dirname, '..', 'baselines', 'redis-http-cluster.js')
const LOADER = join(__dirname, '..', 'workers', 'http-load.js')
const GROUP = 'HTTP counter routes, 4-worker cluster, autocannon 100 connections'
const CONNECTIONS = 100

/**
 * Starts a cluster program and resolves with its base URL once it prints 'ready:'. A worker that
 * dies during start-up fails it at once and stops the cluster, whose primary would otherwise fork
 * replacements in a loop and eat the CPU the other measurements need.
 */
async function startCluster (startRaw, file, env, name) {
  const port = await freePort()
  const child = startRaw(file, {
    name,
    env: { PORT: String(port), WORKERS: '4', LOG_LEVEL: 'warn', REDIS_URL: '', SHARED_STATE_PATH: '', ...env }
  })
  try {
    await waitForOutput(child, 'ready:', 30000, 'starting another')
  } catch (error) {
    await stop(child)
    // The first error line the workers printed says more than "it never got ready".
    const printed = child.output.split('\n').find((line) => /^\s*\w*Error: /.test(line))
    throw new Error(printed?.trim().slice(0, 100) ?? error.message.split('\n')[0])
  }
  return `http://127.0.0.1:${port}`
}

async function roleOf (url) {
  const response = await fetch(`${url}/stats`)
  return (await response.json()).role
}

/** The Redis-mode cluster, or why there is none. */
async function startRedisMode (ctx, startRaw) {
  if (!existsSync(join(ROOT, 'lib', 'store', 'redis'))) return { na: 'n/a: Redis mode not built yet' }
  if (!ctx.redisUrl) return { na: 'n/a: redis-server not found' }
  try {
    const url = await startCluster(startRaw, EXAMPLE, { REDIS_URL: ctx.redisUrl }, 'example app (Redis mode)')
    const role = await roleOf(url)
    if (role !== 'redis') return { na: `n/a: Redis mode not wired yet (workers report role ${role})` }
    return { url }
  } catch (error) {
    return { na: `n/a: Redis mode failed to start: ${error.message}` }
  }
}

async function startTargets (ctx, startRaw) {
  const app = await startCluster(startRaw, EXAMPLE, {
    SHARED_STATE_PORT: String(await freePort()),
    SHARED_STATE_KEY: BENCH_KEY
  }, 'example app (socket mode)')
  const targets = { incr: `${app}/incr`, locked: `${app}/`, lockedAsWritten: `${app}/as-written`, local: `${app}/local` }
  const na = {}
  if (ctx.redisUrl) {
    const direct = await startCluster(startRaw, REDIS_CLUSTER, { REDIS_URL: ctx.redisUrl }, 'ioredis route cluster')
    targets.ioredis = `${direct}/incr`
  } else {
    na.ioredis = 'n/a: redis-server not found'
  }
  const redisMode = await startRedisMode(ctx, startRaw)
  if (redisMode.url) targets.redisMode = `${redisMode.url}/incr`
  else na.redisMode = redisMode.na
  return { targets, na }
}

// The routes measured again with CPU burners alongside: the lock's hand-offs against the atomic
// route on a busy machine.
const BUSY = ['incr', 'locked', 'lockedAsWritten']

async function measure (ctx, start, targets) {
  const loader = await start(LOADER, { name: 'autocannon' })
  const seconds = Math.max(1, Math.round(2 * ctx.scale))
  const names = [...Object.keys(targets), ...BUSY.filter((name) => targets[name]).map((name) => `${name}Busy`)]
  const samples = Object.fromEntries(names.map((name) => [name, { rps: [], p99: [], bad: 0 }]))
  const load = async (name, url) => {
    const result = await call(loader, 'load', { url, connections: CONNECTIONS, seconds }, 60000)
    samples[name].rps.push(result.rps)
    samples[name].p99.push(result.p99Ms)
    samples[name].bad += result.bad
  }
  for (const url of Object.values(targets)) {
    await call(loader, 'load', { url, connections: CONNECTIONS, seconds: 1 }, 60000)
  }
  for (let i = 0; i < ctx.runs; i++) {
    ctx.log(`http run ${i + 1}/${ctx.runs}`)
    for (const [name, url] of Object.entries(targets)) await load(name, url)
    ctx.log(`http run ${i + 1}/${ctx.runs}, ${BURNERS} CPU burners alongside`)
    await withBurners(async () => {
      for (const name of BUSY) if (targets[name]) await load(`${name}Busy`, targets[name])
    })
  }
  return samples
}

function baseline (samples, na, name, label, target) {
  if (samples[name]) return { label, samples: samples[name].rps, target }
  return { label, na: na[name], target }
}

function note (measured) {
  const p99 = [...measured.p99].sort((a, b) => a - b)[measured.p99.length >> 1]
  return `p99 ${p99} ms${measured.bad > 0 ? `, ${measured.bad} errors/non-2xx` : ''}`
}

function rows (samples, na) {
  const route = (name, label, vs) => samples[name]
    ? row({ group: GROUP, label, unit: 'req/s', samples: samples[name].rps, vs, note: note(samples[name]) })
    : naRow(GROUP, label, na[name])
  return [
    route('incr', 'GET /incr (atomic incr)', [
      baseline(samples, na, 'local', 'GET /local (per-worker global)', TARGETS.httpLocal),
      baseline(samples, na, 'ioredis', 'GET /incr on ioredis directly', TARGETS.httpRedis)
    ]),
    route('locked', 'GET / (seed pattern under the lock, with { read })', [
      baseline(samples, na, 'incr', 'GET /incr (same cluster)', TARGETS.httpSeed),
      baseline(samples, na, 'local', 'GET /local (per-worker global)')
    ]),
    route('lockedAsWritten', 'GET /as-written (the same section, each step its own call)', [
      baseline(samples, na, 'incr', 'GET /incr (same cluster)')
    ]),
    route('incrBusy', `GET /incr, ${BURNERS} CPU burners alongside`, []),
    route('lockedBusy', `GET / (seed pattern with { read }), ${BURNERS} CPU burners alongside`, [
      baseline(samples, na, 'incrBusy', `GET /incr, ${BURNERS} CPU burners alongside`, TARGETS.httpSeed)
    ]),
    route('lockedAsWrittenBusy', `GET /as-written, ${BURNERS} CPU burners alongside`, [
      baseline(samples, na, 'incrBusy', `GET /incr, ${BURNERS} CPU burners alongside`)
    ]),
    route('local', 'GET /local (per-worker global: wrong, the ceiling)', []),
    route('redisMode', 'GET /incr, plugin in Redis mode (REDIS_URL)', [
      baseline(samples, na, 'local', 'GET /local (per-worker global)'),
      baseline(samples, na, 'ioredis', 'GET /incr on ioredis directly')
    ]),
    route('ioredis', 'GET /incr on ioredis directly (Redis baseline)', [
      baseline(samples, na, 'local', 'GET /local (per-worker global)')
    ])
  ]
}

async function run (ctx) {
  return scope(async (start, startRaw) => {
    const { targets, na } = await startTargets(ctx, startRaw)
    const samples = await measure(ctx, start, targets)
    return rows(samples, na)
  })
}

module.exports = { name: 'http', run }
