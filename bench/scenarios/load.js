'use strict'

// Helpers for scenarios that load a target from 4 worker processes at once.

const { join } = require('node:path')
const { call } = require('../lib/processes')

const LOAD_CLIENT = join(__dirname, '..', 'workers', 'load-client.js')
const WORKERS = 4

/** Starts the 4 loading workers for `backend` ('shared': needs BENCH_SHARED_PORT; 'redis'). */
function startLoaders (start, backend, env) {
  return Promise.all(Array.from({ length: WORKERS }, (_, i) => start(LOAD_CLIENT, {
    env: { ...env, BENCH_BACKEND: backend },
    name: `${backend} load client ${i + 1}`
  })))
}

/** One window of `op` with `inflight` calls per worker, all workers together: total calls/s. */
async function loadTogether (loaders, { op, inflight, warmupMs, durationMs }) {
  const startAt = Date.now() + 50
  const results = await Promise.all(loaders.map((loader) =>
    call(loader, 'run', { op, inflight, startAt, warmupMs, durationMs }, durationMs + warmupMs + 30000)))
  return results.reduce((total, result) => total + result.rate, 0)
}

/**
 * Untimed load of each op first: the host's and the workers' hot paths reach the optimizing
 * compiler before any window counts (the first second of a fresh process runs at a third of the
 * speed).
 */
async function warmUp (loaders, ops, ms) {
  for (const op of ops) await loadTogether(loaders, { op, inflight: 16, warmupMs: 0, durationMs: ms })
}

module.exports = { startLoaders, loadTogether, warmUp, WORKERS }
