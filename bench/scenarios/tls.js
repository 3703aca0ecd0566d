'use strict'

// What `tls: true` costs: incr from 4 client workers with 1, 16 and 64 calls in flight each,
// against a host with TLS-PSK, and against a host without tls in the same run (windows alternate).

const { join } = require('node:path')
const { freePort, scope } = require('../lib/processes')
const { row } = require('../lib/rows')
const { loadTogether, startLoaders, warmUp } = require('./load')

const INFLIGHT = [1, 16, 64]
const HOST = join(__dirname, '..', 'workers', 'host.js')

async function oneRun (ctx, samples, window) {
  const plain = { BENCH_SHARED_PORT: String(await freePort()) }
  const tls = { BENCH_SHARED_PORT: String(await freePort()), BENCH_TLS: '1' }
  await scope(async (start) => {
    await start(HOST, { env: plain, name: 'plain host' })
    await start(HOST, { env: tls, name: 'tls host' })
    const backends = { plain: await startLoaders(start, 'shared', plain), tls: await startLoaders(start, 'shared', tls) }
    for (const loaders of Object.values(backends)) await warmUp(loaders, ['incr'], window.warmupMs * 2)
    for (const inflight of INFLIGHT) {
      for (const [backend, loaders] of Object.entries(backends)) {
        samples[backend][inflight].push(await loadTogether(loaders, { op: 'incr', inflight, ...window }))
      }
    }
  })
}

async function run (ctx) {
  const window = { warmupMs: Math.round(200 * ctx.scale), durationMs: Math.round(600 * ctx.scale) }
  const empty = () => Object.fromEntries(INFLIGHT.map((n) => [n, []]))
  const samples = { plain: empty(), tls: empty() }
  for (let i = 0; i < ctx.runs; i++) {
    ctx.log(`tls run ${i + 1}/${ctx.runs}`)
    await oneRun(ctx, samples, window)
  }
  return INFLIGHT.map((inflight) => row({
    group: 'tls: true (TLS-PSK), 4 client workers (calls in flight per worker)',
    label: `incr x ${inflight} in flight over tls`,
    unit: 'ops/s',
    samples: samples.tls[inflight],
    vs: [{ label: `incr x ${inflight} in flight without tls`, samples: samples.plain[inflight] }]
  }))
}

module.exports = { name: 'tls', run }
