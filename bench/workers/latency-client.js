'use strict'

// A client worker (another process than the host) timing single awaited calls, in short blocks
// that the orchestrator interleaves with the raw TCP floor's, so outside load hits both alike.

const { openShared } = require('../lib/plugin-app')
const { main, serve } = require('../lib/worker-ipc')
const { LatencyRecorder } = require('./timing')

main(async () => {
  const app = await openShared({ port: Number(process.env.BENCH_SHARED_PORT) })
  if (app.shared.role !== 'client') throw new Error(`expected a client, got role ${app.shared.role}`)
  const { shared } = app
  const calls = {
    get: () => shared.get('bench:latency'),
    set: (i) => shared.set('bench:latency', 12345 + (i & 1)),
    incr: () => shared.incr('bench:latency:n')
  }
  const recorders = Object.fromEntries(Object.keys(calls).map((op) => [op, new LatencyRecorder()]))
  await shared.set('bench:latency', 12345)
  serve({
    block: async ({ calls: count, record }) => {
      for (const [op, recorder] of Object.entries(recorders)) await recorder.block(calls[op], count, record)
    },
    report: () => Object.fromEntries(Object.entries(recorders).map(([op, recorder]) => [op, recorder.summary()]))
  })
})
