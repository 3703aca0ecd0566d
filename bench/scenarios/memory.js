'use strict'

// Host RSS for 1 M small keys set in-process, against a plain Map of the same keys and values;
// and the host's heap per thing that comes and goes (dead workers, lock waits, lock names).

const { join } = require('node:path')
const { call, freePort, scope } = require('../lib/processes')
const { repeatWithin } = require('../lib/repeat')
const { row } = require('../lib/rows')
const { median } = require('../lib/stats')

const WORKER = join(__dirname, '..', 'workers', 'memory.js')
const CHURN_WORKER = join(__dirname, '..', 'workers', 'memory-churn.js')
const DEAD_CLIENTS = 200
const WAITERS = 100000
const LOCK_NAMES = 100000
const KEYS = 1000000
const MB = 1024 * 1024

async function measure (mode) {
  const env = { BENCH_MEMORY_MODE: mode, BENCH_SHARED_PORT: String(await freePort()) }
  return scope(async (start) => {
    const worker = await start(WORKER, { env, name: `memory (${mode})`, execArgv: ['--expose-gc'] })
    return call(worker, 'measure', { keys: KEYS }, 120000)
  })
}

/** One fresh host per run: its heap per dead worker, per lock wait, per lock name. */
async function measureChurn () {
  const env = { BENCH_SHARED_PORT: String(await freePort()) }
  return scope(async (start) => {
    const worker = await start(CHURN_WORKER, { env, name: 'memory churn', execArgv: ['--expose-gc'] })
    return {
      dead: await call(worker, 'deadClients', { count: DEAD_CLIENTS }, 120000),
      waiters: await call(worker, 'waiters', { count: WAITERS }, 120000),
      names: await call(worker, 'lockNames', { count: LOCK_NAMES }, 120000)
    }
  })
}

function churnRows (runs, cut) {
  const bytes = (pick) => runs.map(pick)
  const note = cut ? `; ${cut}` : ''
  return [
    row({ group: 'Memory', label: `host heap per worker that made one set and died (${DEAD_CLIENTS}), while its replies are kept`, unit: 'B', better: 'lower', samples: bytes((run) => run.dead.keptPerClient), note: `kept three timeouts for its retries${note}` }),
    row({ group: 'Memory', label: 'host heap per dead worker after the grace period', unit: 'B', better: 'lower', samples: bytes((run) => run.dead.afterGracePerClient) }),
    row({ group: 'Memory', label: `host heap per lock wait, while it waits (${WAITERS / 1000} k)`, unit: 'B', better: 'lower', samples: bytes((run) => run.waiters.waitingPerWaiter) }),
    row({ group: 'Memory', label: 'host heap per lock wait after it timed out, the lock still held', unit: 'B', better: 'lower', samples: bytes((run) => run.waiters.timedOutPerWaiter) }),
    row({ group: 'Memory', label: `host heap per lock name after its release (${LOCK_NAMES / 1000} k names)`, unit: 'B', better: 'lower', samples: bytes((run) => run.names.perName) })
  ]
}

async function run (ctx) {
  const { results, cut } = await repeatWithin(ctx, 30000 * ctx.scale, 'memory', async () => ({
    shared: await measure('shared'),
    map: await measure('map')
  }))
  const shared = results.map((result) => result.shared)
  const perKey = median(shared.map((result) => result.rssBytes / KEYS))
  const seconds = median(shared.map((result) => result.seconds))
  const churn = await repeatWithin(ctx, 30000 * ctx.scale, 'memory churn', measureChurn)
  return [row({
    group: 'Memory',
    label: 'host RSS growth for 1 M small keys (key:i -> i)',
    unit: 'MB',
    better: 'lower',
    samples: shared.map((result) => result.rssBytes / MB),
    vs: [{ label: 'plain Map of the same keys and values', samples: results.map((result) => result.map.rssBytes / MB) }],
    note: `${perKey.toFixed(0)} B/key, filled in ${seconds.toFixed(2)} s (${(KEYS / seconds / 1000).toFixed(0)} k sets/s in-process)` +
      (cut ? `; ${cut}` : '')
  }), ...churnRows(churn.results, churn.cut)]
}

module.exports = { name: 'memory', run }
