'use strict'

// Host RSS for 1 M small keys set in-process, against a plain Map of the same keys and values.

const { join } = require('node:path')
const { call, freePort, scope } = require('../lib/processes')
const { repeatWithin } = require('../lib/repeat')
const { row } = require('../lib/rows')
const { median } = require('../lib/stats')

const WORKER = join(__dirname, '..', 'workers', 'memory.js')
const KEYS = 1000000
const MB = 1024 * 1024

async function measure (mode) {
  const env = { BENCH_MEMORY_MODE: mode, BENCH_SHARED_PORT: String(await freePort()) }
  return scope(async (start) => {
    const worker = await start(WORKER, { env, name: `memory (${mode})`, execArgv: ['--expose-gc'] })
    return call(worker, 'measure', { keys: KEYS }, 120000)
  })
}

async function run (ctx) {
  const { results, cut } = await repeatWithin(ctx, 30000 * ctx.scale, 'memory', async () => ({
    shared: await measure('shared'),
    map: await measure('map')
  }))
  const shared = results.map((result) => result.shared)
  const perKey = median(shared.map((result) => result.rssBytes / KEYS))
  const seconds = median(shared.map((result) => result.seconds))
  return [row({
    group: 'Memory',
    label: 'host RSS growth for 1 M small keys (key:i -> i)',
    unit: 'MB',
    better: 'lower',
    samples: shared.map((result) => result.rssBytes / MB),
    vs: [{ label: 'plain Map of the same keys and values', samples: results.map((result) => result.map.rssBytes / MB) }],
    note: `${perKey.toFixed(0)} B/key, filled in ${seconds.toFixed(2)} s (${(KEYS / seconds / 1000).toFixed(0)} k sets/s in-process)` +
      (cut ? `; ${cut}` : '')
  })]
}

module.exports = { name: 'memory', run }
