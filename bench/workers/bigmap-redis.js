'use strict'

// Fills a redis-server with N small keys (`key:i` -> i), as the host holds them, and reports the
// server's resident memory growth (read from /proc) and its own `used_memory` growth. Then, for
// the 10 M throughput rows, get / set / incr on random existing keys through ioredis with
// auto-pipelining, as bigmap-client.js calls the host: what a large map costs Redis itself.

const { readFileSync } = require('node:fs')
const Redis = require('ioredis')
const { rateOnRandomKeys } = require('../lib/small-keys')
const { main, serve } = require('../lib/worker-ipc')

const BATCH = 10000

function rssOf (pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((text) => text.startsWith('VmRSS:'))
  return Number(/(\d+)/.exec(line)[1]) * 1024
}

async function usedMemory (redis) {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1])
}

const CALLS = {
  get: (redis, key) => redis.get(key),
  set: (redis, key, i) => redis.set(key, String(i)),
  incr: (redis, key) => redis.incr(key)
}

main(async () => {
  let client
  serve({
    throughput: ({ url, op, keys, ms, inFlight }) => {
      client ??= new Redis(url, { enableAutoPipelining: true })
      return rateOnRandomKeys((key, i) => CALLS[op](client, key, i), { keys, ms, inFlight })
    },
    fill: async ({ url, pid, keys }) => {
      const redis = new Redis(url, { lazyConnect: true })
      await redis.connect()
      try {
        const rssBefore = rssOf(pid)
        const usedBefore = await usedMemory(redis)
        for (let start = 0; start < keys; start += BATCH) {
          const pipeline = redis.pipeline()
          for (let i = start; i < Math.min(keys, start + BATCH); i++) pipeline.set(`key:${i}`, String(i))
          await pipeline.exec()
        }
        const size = await redis.dbsize()
        if (size !== keys) throw new Error(`expected ${keys} keys in Redis, found ${size}`)
        return { rssBytes: rssOf(pid) - rssBefore, usedBytes: (await usedMemory(redis)) - usedBefore }
      } finally {
        redis.disconnect()
      }
    }
  })
})
