'use strict'

// One worker of the handover scenario: the first one hosts and fills the map; `close` closes it
// (a graceful handover to a worker still connected); `probe` times this worker's first answered
// call from a given moment and counts what it finds.

const { openShared } = require('../lib/plugin-app')
const { main, serve } = require('../lib/worker-ipc')

const FILL_BATCH = 10000

main(async () => {
  const connectTimeout = process.env.BENCH_CONNECT_TIMEOUT ? Number(process.env.BENCH_CONNECT_TIMEOUT) : undefined
  const file = process.env.BENCH_PERSIST_FILE
  const persist = file ? { file, fsync: process.env.BENCH_PERSIST_FSYNC || 'everysec' } : undefined
  const started = Date.now()
  const app = await openShared({ port: Number(process.env.BENCH_SHARED_PORT), connectTimeout, timeout: 120000, persist })
  const readyAt = Date.now()
  serve({
    fill: async ({ keys, from: first = 0 }) => {
      for (let from = first; from < keys; from += FILL_BATCH) {
        const batch = []
        for (let i = from; i < Math.min(keys, from + FILL_BATCH); i++) batch.push(app.shared.set(`key:${i}`, i))
        await Promise.all(batch)
      }
      return app.shared.size()
    },
    close: async () => {
      const started = process.hrtime.bigint()
      await app.close()
      return Number(process.hrtime.bigint() - started) / 1e6
    },
    // Calls on, one at a time, until this worker hosts: the calls made while the state moves
    // wait and are answered; the first one this worker answers as host ends the probe.
    probe: async ({ keys }) => {
      let calls = 0
      let last
      do {
        last = await app.shared.get(`key:${keys - 1}`)
        calls++
      } while (app.shared.role !== 'host')
      const servedAt = Date.now()
      return { servedAt, calls, last, size: await app.shared.size() }
    },
    role: async () => app.shared.role,
    size: async () => app.shared.size()
  }, { role: app.shared.role, started, readyAt })
})
