'use strict'

// One worker's Fastify app. Every worker of the cluster runs this same file; the plugin elects
// one of them to host the shared state and wires the others to it.

const Fastify = require('fastify')
const { LogController } = require('fastify')
const { sharedState } = require('fastify-shared-state')

// The wrong way, kept for comparison: a module-level counter exists once per worker, so under a
// cluster it answers 1, 1, 2, 1... depending on which worker took the request.
let perWorkerCount = 0

async function buildApp (config) {
  const app = Fastify({
    logger: { level: config.logLevel },
    // One log line per request would drown the role lines under a load test.
    logController: new LogController({ disableRequestLogging: true })
  })

  await app.register(sharedState, config.redis
    ? { redis: config.redis, defaults: { number: 0 } }
    : {
        port: config.sharedPort,
        path: config.sharedPath,
        key: config.key,
        defaults: { number: 0 },
        persist: config.persistFile ? { file: config.persistFile, fsync: config.persistFsync } : undefined
      })

  // The seed's pattern: read, add one, write back, all under the shared lock. The key named up
  // front comes with the grant and the write goes with the release, so the section costs two
  // messages; a worker with requests queued passes the lock on in-process.
  app.get('/', async () =>
    app.sharedLock.withLock((lock) => {
      const n = (lock.get('number') ?? 0) + 1
      lock.set('number', n)
      return String(n)
    }, { read: ['number'] }))

  // The same section as the seed writes it, each step its own call: six messages a section.
  app.get('/as-written', async () =>
    app.sharedLock.withLock(async () => {
      const n = ((await app.shared.get('number')) ?? 0) + 1
      await app.shared.set('number', n)
      return String(n)
    }))

  // The same counter in one atomic step on the host: no lock, no race.
  app.get('/incr', async () => String(await app.shared.incr('counter')))

  app.get('/local', async () => String(++perWorkerCount))

  // Per-page hit statistics in one nested object, each hit one atomic step on the host. The seed
  // recipe cannot do this: `shared_dict["visits"][page] += 1` edits a copy and is lost.
  app.get('/visit/:page', async (request) => String(await app.shared.incrIn(['visits', request.params.page])))
  app.get('/visits', async () => (await app.shared.get('visits')) ?? {})

  // Which worker answered, and the shared state as it sees it: host, workers, keys, op rates.
  app.get('/stats', async () => ({ pid: process.pid, role: app.shared.role, shared: await app.shared.stats() }))

  return app
}

module.exports = { buildApp }
