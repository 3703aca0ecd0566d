'use strict'

// The host of a large map: fills N small keys (`key:i` -> i) in-process and reports the resident
// memory they added, after garbage collection, and again once the process has rested (V8 gives
// back the young generation the fill grew once the process goes idle); or, in map mode, the same
// for a plain Map. Also watches its own event loop while a client reads or clears the map. Run
// with --expose-gc.

const { getHeapSpaceStatistics } = require('node:v8')
const { setTimeout: sleep } = require('node:timers/promises')
const { LoopWatch } = require('../lib/loop-watch')
const { openShared } = require('../lib/plugin-app')
const { main, serve } = require('../lib/worker-ipc')

const { fillMap, fillShared, settledMemory } = require('../lib/small-keys')

/** The median time of a few full collections, in ms: what the keys held cost the collector. */
function fullCollectionMs () {
  const times = []
  for (let i = 0; i < 5; i++) {
    const started = process.hrtime.bigint()
    global.gc()
    times.push(Number(process.hrtime.bigint() - started) / 1e6)
  }
  return times.sort((a, b) => a - b)[2]
}

/** The size of V8's young generation (its semi-spaces), which traffic grows up to a flag's cap. */
function youngGenerationBytes () {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size
}

// How often a resting process looks whether V8 gave its young generation back.
const REST_POLL_MS = 250

main(async () => {
  if (typeof global.gc !== 'function') throw new Error('run with --expose-gc')
  const app = process.env.BENCH_BIGMAP_MODE === 'shared'
    ? await openShared({ port: Number(process.env.BENCH_SHARED_PORT), timeout: 120000 })
    : undefined
  if (app !== undefined && app.shared.role !== 'host') throw new Error('expected to host')
  let map
  let watch
  // The memory before the fill, and the young generation's size and the time after it.
  let empty
  let youngFilled
  let filledAt
  serve({
    fill: async ({ keys }) => {
      const before = settledMemory()
      empty = before
      const youngBefore = youngGenerationBytes()
      const started = process.hrtime.bigint()
      if (app !== undefined) await fillShared(app.shared, keys)
      else map = fillMap(keys)
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const after = settledMemory()
      const size = app !== undefined ? await app.shared.size() : map.size
      if (size !== keys) throw new Error(`expected ${keys} keys, found ${size}`)
      youngFilled = youngGenerationBytes()
      filledAt = process.hrtime.bigint()
      return {
        rssBytes: after.rss - before.rss,
        heapBytes: after.heapTotal - before.heapTotal,
        youngBytes: youngGenerationBytes() - youngBefore,
        seconds,
        gcMs: fullCollectionMs()
      }
    },
    // After a fill, waits with nothing to do (until `maxMs` after it, at most) for V8's memory
    // reducer to shrink the young generation (on Node 20 about 25 s after the last traffic), and
    // reports the resident memory the keys then add: what they cost a host at rest, without the
    // grown young generation that any traffic leaves, whatever the number of keys. `seconds`:
    // since the fill ended.
    rest: async ({ maxMs }) => {
      if (filledAt === undefined) throw new Error('rest comes after a fill')
      const idle = () => Number(process.hrtime.bigint() - filledAt) / 1e9
      while (youngGenerationBytes() >= youngFilled && idle() * 1000 < maxMs) await sleep(REST_POLL_MS)
      return {
        rssBytes: process.memoryUsage().rss - empty.rss,
        youngBytes: youngGenerationBytes(),
        shrunk: youngGenerationBytes() < youngFilled,
        seconds: idle()
      }
    },
    // A full collection first, so a window holds the collections its own operation causes, not
    // one the fill or an earlier operation left due.
    watchLoop: () => {
      global.gc()
      watch = new LoopWatch().start()
      return null
    },
    // The host worker's own whole-map read (`keys`, `entries` or a whole `scan`), watched as the
    // others are: its calls take no socket, and still must leave other workers' requests a turn.
    ownRead: async ({ op, tailMs }) => {
      global.gc()
      const watch = new LoopWatch().start()
      const started = process.hrtime.bigint()
      let count = 0
      if (op === 'scan') {
        for await (const page of app.shared.scan('', { count: 1000 })) count += page.length
      } else {
        count = (await app.shared[op]('')).length
      }
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      await sleep(tailMs)
      return { ms, count, ...watch.stop() }
    },
    // The longest stall since watchLoop, including `tailMs` after the operation answered (a
    // collection of what it freed, for one).
    loopDelay: async ({ tailMs }) => {
      await sleep(tailMs)
      return watch.stop()
    }
  })
})
