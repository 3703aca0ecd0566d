'use strict'

// The worst event-loop stall while N keys with a short ttl expire on the host, against a plain Map
// with a setTimeout per key (what one writes without a sweep). Fresh process per measurement.
// Every key is given the ttl that makes it expire at one instant, the worst case for a sweep;
// the instant is placed after the last set, from the rate of the first batch.

const { monitorEventLoopDelay } = require('node:perf_hooks')
const { openShared } = require('../lib/plugin-app')
const { main, serve } = require('../lib/worker-ipc')

const BATCH = 1000
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function fillShared (shared, keys, expiresAt) {
  for (let start = 0; start < keys; start += BATCH) {
    const ttl = Math.max(1, expiresAt() - Date.now())
    const batch = []
    for (let i = start; i < Math.min(keys, start + BATCH); i++) batch.push(shared.set(`ttl:${i}`, i, { ttl }))
    await Promise.all(batch)
  }
}

function fillNaive (keys, expiresAt) {
  const map = new Map()
  for (let i = 0; i < keys; i++) {
    const key = `ttl:${i}`
    map.set(key, i)
    setTimeout(() => map.delete(key), Math.max(1, expiresAt() - Date.now()))
  }
}

/** The expiry instant: fixed once the first batch shows how fast sets go. */
function expiryPlanner (keys, minTtlMs) {
  const started = Date.now()
  let at
  return {
    expiresAt: () => at ?? started + 60000,
    plan: () => {
      const perBatch = Math.max(1, Date.now() - started)
      at = Date.now() + Math.max(minTtlMs, Math.ceil(2 * perBatch * keys / BATCH))
    }
  }
}

main(async () => {
  const shared = process.env.BENCH_TTL_MODE === 'shared'
    ? (await openShared({ port: Number(process.env.BENCH_SHARED_PORT) })).shared
    : undefined
  if (shared !== undefined && shared.role !== 'host') throw new Error('expected to host')
  serve({
    measure: async ({ keys, minTtlMs, tailMs }) => {
      const started = Date.now()
      const planner = expiryPlanner(keys, minTtlMs)
      // The first batch, timed, sets the instant; it and the rest then expire together.
      if (shared !== undefined) {
        await fillShared(shared, BATCH, () => started + 60000)
        planner.plan()
        await fillShared(shared, keys, planner.expiresAt)
      } else {
        fillNaive(BATCH, () => started + 60000)
        planner.plan()
        fillNaive(keys, planner.expiresAt)
      }
      const setMs = Date.now() - started
      const expiresAt = planner.expiresAt()
      if (Date.now() >= expiresAt) throw new Error(`setting ${keys} keys took ${setMs} ms, past their expiry`)
      // The window opens once every key is set and closes `tailMs` after the expiry instant.
      const histogram = monitorEventLoopDelay({ resolution: 1 })
      histogram.enable()
      await sleep(expiresAt + tailMs - Date.now())
      histogram.disable()
      return { maxMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6, setMs }
    }
  })
})
