'use strict'

// A client worker of a large map: throughput of get/set/incr on random existing keys, the
// latency of one call, and whole-map reads (keys, entries, scan, clear), each timed here.

const { openShared } = require('../lib/plugin-app')
const { rateOnRandomKeys } = require('../lib/small-keys')
const { main, serve } = require('../lib/worker-ipc')

const CALLS = {
  get: (shared, key) => shared.get(key),
  set: (shared, key, i) => shared.set(key, i),
  incr: (shared, key) => shared.incr(key)
}

main(async () => {
  const app = await openShared({ port: Number(process.env.BENCH_SHARED_PORT), timeout: 120000 })
  if (app.shared.role !== 'client') throw new Error('expected to be a client')
  const { shared } = app
  serve({
    throughput: ({ op, keys, ms, inFlight }) => rateOnRandomKeys((key, i) => CALLS[op](shared, key, i), { keys, ms, inFlight }),
    // µs per call of each of `calls` ([op, arg] pairs), the median of `rounds` rounds made one
    // call after another, the calls of a round in turn, so every call sees the same conditions.
    latency: async ({ calls, rounds }) => {
      const times = calls.map(() => [])
      let matches
      for (let round = 0; round < rounds; round++) {
        for (const [i, [op, arg]] of calls.entries()) {
          const started = process.hrtime.bigint()
          const result = await shared[op](arg)
          times[i].push(Number(process.hrtime.bigint() - started) / 1000)
          if (op === 'keys') matches = result.length
        }
      }
      return { us: times.map((list) => list.sort((a, b) => a - b)[Math.floor(list.length / 2)]), matches }
    },
    wholeRead: async ({ op }) => {
      const started = process.hrtime.bigint()
      let count = 0
      if (op === 'scan') {
        for await (const page of shared.scan('', { count: 1000 })) count += page.length
      } else if (op === 'clear') {
        await shared.clear()
      } else {
        count = (await shared[op]('')).length
      }
      return { ms: Number(process.hrtime.bigint() - started) / 1e6, count }
    }
  })
})
