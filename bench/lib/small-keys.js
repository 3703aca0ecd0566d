'use strict'

// What the memory workers share: N small keys (`key:i` -> i), set through the plugin in batches or
// into a plain Map, the process's memory once garbage collection has settled (--expose-gc), and
// the rate of calls on random existing keys.

const BATCH = 1000

function settledMemory () {
  for (let i = 0; i < 3; i++) global.gc()
  return process.memoryUsage()
}

async function fillShared (shared, keys) {
  for (let start = 0; start < keys; start += BATCH) {
    const batch = []
    for (let i = start; i < Math.min(keys, start + BATCH); i++) batch.push(shared.set(`key:${i}`, i))
    await Promise.all(batch)
  }
}

function fillMap (keys) {
  const map = new Map()
  for (let i = 0; i < keys; i++) map.set(`key:${i}`, i)
  return map
}

/**
 * Calls per second of `call(key, i)` on random keys among the first `keys`, `inFlight` at a time,
 * for `ms`.
 */
async function rateOnRandomKeys (call, { keys, ms, inFlight }) {
  let done = 0
  const ends = Date.now() + ms
  const started = process.hrtime.bigint()
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (Date.now() < ends) {
      const i = Math.floor(Math.random() * keys)
      await call(`key:${i}`, i)
      done++
    }
  }))
  return done / (Number(process.hrtime.bigint() - started) / 1e9)
}

module.exports = { fillMap, fillShared, rateOnRandomKeys, settledMemory }
