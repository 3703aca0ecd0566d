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

// A rate this much above the best so far is still rising; windows that do not reach it count as settled.
const STILL_RISING = 1.05
const SETTLED_WINDOWS = 2
const MAX_WARM_WINDOWS = 16

/**
 * Untimed load in the shape a case is measured in (its op and calls in flight), in short windows
 * until the rate stops rising, at most MAX_WARM_WINDOWS of them. V8 optimizes a function once it
 * has run enough, not after a time: a lock loop with 1 section in flight per worker runs at a
 * fifth of its speed for its first 10-20 k sections (about 2 s on the 2-vCPU VM, longer with
 * burners), and the work done at 16 in flight does not cover it.
 */
async function warmUntilSteady (loaders, { op, inflight }, windowMs) {
  let best = 0
  let settled = 0
  for (let i = 0; i < MAX_WARM_WINDOWS && settled < SETTLED_WINDOWS; i++) {
    const rate = await loadTogether(loaders, { op, inflight, warmupMs: 0, durationMs: windowMs })
    if (rate > best * STILL_RISING) settled = 0
    else settled++
    best = Math.max(best, rate)
  }
}

module.exports = { startLoaders, loadTogether, warmUp, warmUntilSteady, WORKERS }
