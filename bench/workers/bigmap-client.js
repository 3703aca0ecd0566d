'use strict'

// A client worker of a large map: throughput of get/set/incr on random existing keys, the
// latency of one call, and whole-map reads (keys, entries, scan, clear), each timed here.

const { openShared } = require('../lib/plugin-app')
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
    throughput: async ({ op, keys, ms, inFlight }) => {
      const run = CALLS[op]
      let done = 0
      const ends = Date.now() + ms
      const started = process.hrtime.bigint()
      await Promise.all(Array.from({ length: inFlight }, async () => {
        while (Date.now() < ends) {
          const i = Math.floor(Math.random() * keys)
          await run(shared, `key:${i}`, i)
          done++
        }
      }))
      return done / (Number(process.hrtime.bigint() - started) / 1e9)
    },
    // µs per call, the median of `calls` calls made one after another.
    latency: async ({ op, arg, calls }) => {
      const times = []
      for (let i = 0; i < calls; i++) {
        const started = process.hrtime.bigint()
        const result = await shared[op](arg)
        times.push(Number(process.hrtime.bigint() - started) / 1000)
        if (op === 'keys' && i === 0) times.matches = result.length
      }
      const matches = times.matches
      times.sort((a, b) => a - b)
      return { us: times[Math.floor(times.length / 2)], matches }
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
