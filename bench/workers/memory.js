'use strict'

// Resident memory of N small keys, set from the host worker in-process, against a plain Map of the
// same keys and values. Run with --expose-gc, one fresh process per measurement.

const { openShared } = require('../lib/plugin-app')
const { main, serve } = require('../lib/worker-ipc')

const { fillMap, fillShared, settledMemory: settle } = require('../lib/small-keys')

main(async () => {
  if (typeof global.gc !== 'function') throw new Error('run with --expose-gc')
  const app = process.env.BENCH_MEMORY_MODE === 'shared'
    ? await openShared({ port: Number(process.env.BENCH_SHARED_PORT) })
    : undefined
  if (app !== undefined && app.shared.role !== 'host') throw new Error('expected to host')
  serve({
    measure: async ({ keys }) => {
      const before = settle()
      const started = process.hrtime.bigint()
      let kept
      if (app !== undefined) await fillShared(app.shared, keys)
      else kept = fillMap(keys)
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const after = settle()
      const size = app !== undefined ? await app.shared.size() : kept.size
      if (size !== keys) throw new Error(`expected ${keys} keys, found ${size}`)
      return { rssBytes: after.rss - before.rss, heapBytes: after.heapUsed - before.heapUsed, seconds }
    }
  })
})
