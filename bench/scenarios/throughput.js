'use strict'

// incr / get / set from 4 client workers with 1, 16 and 64 calls in flight each, against
// Redis + ioredis (auto-pipelined) at the same concurrency from 4 processes.

const { join } = require('node:path')
const { freePort, scope } = require('../lib/processes')
const { row } = require('../lib/rows')
const { TARGETS } = require('../lib/targets')
const { loadTogether, startLoaders, warmUp } = require('./load')

const OPS = ['incr', 'get', 'set']
const INFLIGHT = [1, 16, 64]
const HOST = join(__dirname, '..', 'workers', 'host.js')

function key (op, inflight) {
  return `${op}x${inflight}`
}

async function oneRun (ctx, samples, window) {
  const env = { BENCH_SHARED_PORT: String(await freePort()), BENCH_REDIS_URL: ctx.redisUrl ?? '' }
  await scope(async (start) => {
    await start(HOST, { env, name: 'throughput host' })
    const backends = { shared: await startLoaders(start, 'shared', env) }
    if (ctx.redisUrl) backends.redis = await startLoaders(start, 'redis', env)
    for (const loaders of Object.values(backends)) await warmUp(loaders, OPS, window.warmupMs * 2)
    for (const op of OPS) {
      for (const inflight of INFLIGHT) {
        // Backends alternate window by window, so a burst of outside load hits both alike.
        for (const [backend, loaders] of Object.entries(backends)) {
          const rate = await loadTogether(loaders, { op, inflight, ...window })
          samples[backend][key(op, inflight)].push(rate)
        }
      }
    }
  })
}

async function run (ctx) {
  const window = { warmupMs: Math.round(200 * ctx.scale), durationMs: Math.round(600 * ctx.scale) }
  const empty = () => Object.fromEntries(OPS.flatMap((op) => INFLIGHT.map((n) => [key(op, n), []])))
  const samples = { shared: empty(), redis: empty() }
  for (let i = 0; i < ctx.runs; i++) {
    ctx.log(`throughput run ${i + 1}/${ctx.runs}`)
    await oneRun(ctx, samples, window)
  }
  return OPS.flatMap((op) => INFLIGHT.map((inflight) => row({
    group: 'Throughput from 4 client workers (calls in flight per worker)',
    label: `${op} x ${inflight} in flight`,
    unit: 'ops/s',
    samples: samples.shared[key(op, inflight)],
    vs: [ctx.redisUrl
      ? {
          label: `Redis + ioredis auto-pipelined, ${op} x ${inflight}`,
          samples: samples.redis[key(op, inflight)],
          target: op === 'incr' && inflight === 64 ? TARGETS.throughput : undefined
        }
      : { label: 'Redis + ioredis', na: 'n/a: redis-server not found' }]
  })))
}

module.exports = { name: 'throughput', run }
