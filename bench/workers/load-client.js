'use strict'

// One of the 4 loading workers: the plugin as a client of a host in another process (or, with
// BENCH_WORKER_HOSTS, of whichever loading worker won the election), or ioredis with
// auto-pipelining against redis-server, looping `inflight` awaited calls at a time.

const { openShared } = require('../lib/plugin-app')
const { main, serve } = require('../lib/worker-ipc')
const { loadWindow } = require('./timing')

const SEED_READ = { read: ['bench:seed'] }

function sharedCalls (app) {
  const { shared, sharedLock } = app
  return {
    incr: () => shared.incr('bench:n'),
    get: () => shared.get('bench:v'),
    set: () => shared.set('bench:v', 12345),
    // The seed's pattern: read, add one, write back, under the shared lock.
    seed: () => sharedLock.withLock(async () => {
      const n = ((await shared.get('bench:seed')) ?? 0) + 1
      await shared.set('bench:seed', n)
    }),
    // The same section with the key named up front: the grant brings the value, the release
    // takes the write.
    seedRead: () => sharedLock.withLock((lock) => {
      lock.set('bench:seed', (lock.get('bench:seed') ?? 0) + 1)
    }, SEED_READ)
  }
}

function redisCalls (redis) {
  return {
    incr: () => redis.incr('bench:n'),
    get: () => redis.get('bench:v'),
    set: () => redis.set('bench:v', '12345')
  }
}

async function open (backend) {
  if (backend === 'redis') {
    const Redis = require('ioredis')
    const redis = new Redis(process.env.BENCH_REDIS_URL, { enableAutoPipelining: true, lazyConnect: true })
    await redis.connect()
    await redis.set('bench:v', '12345')
    return { calls: redisCalls(redis), close: () => redis.quit() }
  }
  const app = await openShared({ port: Number(process.env.BENCH_SHARED_PORT) })
  // With BENCH_WORKER_HOSTS, one of the loading workers hosts, as in an app's cluster.
  const expected = process.env.BENCH_WORKER_HOSTS ? ['host', 'client'] : ['client']
  if (!expected.includes(app.shared.role)) throw new Error(`expected ${expected.join(' or ')}, got role ${app.shared.role}`)
  await app.shared.set('bench:v', 12345)
  return { calls: sharedCalls(app), close: () => app.close() }
}

main(async () => {
  const backend = await open(process.env.BENCH_BACKEND)
  serve({
    run: ({ op, inflight, startAt, warmupMs, durationMs }) => {
      const fn = backend.calls[op]
      if (fn === undefined) throw new Error(`no op ${op} on ${process.env.BENCH_BACKEND}`)
      return loadWindow(fn, { inflight, startAt, warmupMs, durationMs })
    },
    close: () => backend.close()
  })
})
