'use strict'

// The host worker's own calls (no socket) against a plain Map behind the same awaited async
// functions, so the difference is what the plugin adds above a Map, not the cost of `await`.

const { openShared } = require('../lib/plugin-app')
const { main, serve } = require('../lib/worker-ipc')
const { awaitedRate } = require('./timing')

function mapCalls () {
  const map = new Map([['bench:v', 12345]])
  return {
    get: async () => map.get('bench:v'),
    set: async (i) => { map.set('bench:v', 12345 + (i & 1)) },
    incr: async () => {
      const n = (map.get('bench:n') ?? 0) + 1
      map.set('bench:n', n)
      return n
    }
  }
}

main(async () => {
  const app = await openShared({ port: Number(process.env.BENCH_SHARED_PORT) })
  if (app.shared.role !== 'host') throw new Error(`expected to host, got role ${app.shared.role}`)
  const { shared } = app
  await shared.set('bench:v', 12345)
  const sharedCalls = {
    get: () => shared.get('bench:v'),
    set: (i) => shared.set('bench:v', 12345 + (i & 1)),
    incr: () => shared.incr('bench:n')
  }
  const plain = mapCalls()
  serve({
    measure: async ({ ops, durationMs }) => {
      const result = {}
      for (const op of ops) {
        await awaitedRate(sharedCalls[op], durationMs / 4)
        await awaitedRate(plain[op], durationMs / 4)
        result[op] = {
          shared: await awaitedRate(sharedCalls[op], durationMs),
          map: await awaitedRate(plain[op], durationMs)
        }
      }
      return result
    }
  })
})
