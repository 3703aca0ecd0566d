'use strict'

// The longest event-loop stall on the host while 100,000 keys with a short ttl expire, against a
// plain Map with a setTimeout per key.

const { join } = require('node:path')
const { call, freePort, scope } = require('../lib/processes')
const { repeatWithin } = require('../lib/repeat')
const { row } = require('../lib/rows')
const { median } = require('../lib/stats')

const WORKER = join(__dirname, '..', 'workers', 'ttl-sweep.js')
const KEYS = 100000

async function measure (mode, settings) {
  const env = { BENCH_TTL_MODE: mode, BENCH_SHARED_PORT: String(await freePort()) }
  return scope(async (start) => {
    const worker = await start(WORKER, { env, name: `ttl sweep (${mode})` })
    return call(worker, 'measure', { keys: KEYS, ...settings }, 90000)
  })
}

async function run (ctx) {
  const settings = { minTtlMs: 500, tailMs: Math.round(600 * ctx.scale) }
  const { results, cut } = await repeatWithin(ctx, 20000 * ctx.scale, 'ttl sweep', async () => ({
    shared: await measure('shared', settings),
    naive: await measure('naive', settings)
  }))
  const shared = results.map((result) => result.shared)
  return [row({
    group: 'TTL sweep stall',
    label: `max event-loop delay while ${KEYS / 1000} k keys expire together`,
    unit: 'ms',
    better: 'lower',
    samples: shared.map((result) => result.maxMs),
    vs: [{ label: 'plain Map + a setTimeout per key', samples: results.map((result) => result.naive.maxMs) }],
    note: `p99 delay ${median(shared.map((result) => result.p99Ms)).toFixed(1)} ms; ` +
      `100 k sets with ttl took ${median(shared.map((result) => result.setMs)).toFixed(0)} ms` +
      (cut ? `; ${cut}` : '')
  })]
}

module.exports = { name: 'ttl-sweep', run }
