'use strict'

// The Redis INCR baseline of the HTTP rows: the example app's counter route, written directly on
// ioredis (auto-pipelined) instead of the plugin, on a 4-worker node:cluster. Same env as the
// example app: PORT, WORKERS, REDIS_URL; prints 'ready:' once every worker listens.

const cluster = require('node:cluster')

const port = Number(process.env.PORT)
const workers = Number(process.env.WORKERS || 4)

if (cluster.isPrimary) {
  let ready = 0
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (message) => {
      if (message?.ready && ++ready === workers) console.log(`ready: ${workers} workers on ${port}`)
    })
  }
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM')
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers).length === 0) process.exit(0)
    })
  })
} else {
  startWorker()
}

async function startWorker () {
  const Fastify = require('fastify')
  const Redis = require('ioredis')
  const redis = new Redis(process.env.REDIS_URL, { enableAutoPipelining: true })
  const app = Fastify({ logger: false })
  app.get('/incr', async () => String(await redis.incr('bench:http:counter')))
  await app.listen({ host: '127.0.0.1', port })
  process.send({ ready: true })
  process.on('SIGTERM', async () => {
    await app.close()
    await redis.quit()
    process.exit(0)
  })
}
