'use strict'

// What `tls: true` costs: a single awaited incr from a client worker (host and client pinned to
// one CPU, as in the latency scenario), and incr from 4 client workers with 1, 16 and 64 calls in
// flight each; each against a host with TLS-PSK and a host without tls in the same run, blocks and
// windows alternating so that outside load hits both alike.

const { join } = require('node:path')
const { placements, pin } = require('../lib/placement')
const { call, freePort, scope } = require('../lib/processes')
const { row } = require('../lib/rows')
const { loadTogether, startLoaders, warmUp } = require('./load')

const INFLIGHT = [1, 16, 64]
const WORKERS = join(__dirname, '..', 'workers')
const HOST = join(WORKERS, 'host.js')
const BLOCK_CALLS = 500

async function latencyRun (ctx, samples) {
  const placement = placements().find((candidate) => candidate.id === 'together') ?? placements()[0]
  const envs = {
    plain: { BENCH_SHARED_PORT: String(await freePort()) },
    tls: { BENCH_SHARED_PORT: String(await freePort()), BENCH_TLS: '1' }
  }
  await scope(async (start) => {
    const clients = {}
    for (const [backend, env] of Object.entries(envs)) {
      const host = await start(HOST, { env, name: `${backend} latency host` })
      const client = await start(join(WORKERS, 'latency-client.js'), { env, name: `${backend} latency client` })
      if (placement.server !== undefined) {
        pin(host, placement.server)
        pin(client, placement.client)
      }
      clients[backend] = client
    }
    const blocks = Math.max(2, Math.round(6 * ctx.scale))
    for (let i = -2; i < blocks; i++) {
      for (const client of Object.values(clients)) await call(client, 'block', { calls: BLOCK_CALLS, record: i >= 0 }, 60000)
    }
    for (const [backend, client] of Object.entries(clients)) samples[backend].push((await call(client, 'report')).incr.p50)
  })
}

async function throughputRun (ctx, samples, window) {
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
  const throughput = { plain: empty(), tls: empty() }
  const latency = { plain: [], tls: [] }
  for (let i = 0; i < ctx.runs; i++) {
    ctx.log(`tls run ${i + 1}/${ctx.runs}`)
    await latencyRun(ctx, latency)
    await throughputRun(ctx, throughput, window)
  }
  const group = 'tls: true (TLS-PSK) against no tls, same run'
  return [
    row({
      group,
      label: 'awaited incr p50 over tls, one CPU',
      unit: 'µs',
      better: 'lower',
      samples: latency.tls,
      vs: [{ label: 'awaited incr p50 without tls, one CPU', samples: latency.plain }]
    }),
    ...INFLIGHT.map((inflight) => row({
      group,
      label: `incr x ${inflight} in flight over tls, 4 workers`,
      unit: 'ops/s',
      samples: throughput.tls[inflight],
      vs: [{ label: `incr x ${inflight} in flight without tls`, samples: throughput.plain[inflight] }]
    }))
  ]
}

module.exports = { name: 'tls', run }
