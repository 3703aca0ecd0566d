'use strict'

// The clustered example: a node:cluster primary forks WORKERS workers, each serving the same
// HTTP port with its own Fastify app, all sharing one state through fastify-shared-state.
//
//   npm start                         4 workers on http://127.0.0.1:3000
//   WORKERS=2 PORT=8080 npm start
//   SHARED_STATE_KEY=... npm start    the key every worker authenticates with (required when
//                                     NODE_ENV=production; generated for the demo otherwise)
//   REDIS_URL=redis://127.0.0.1:6379 npm start   the same app with the state in Redis
//   PERSIST_FILE=state.log npm start  the host logs every change; a restart loads it
//                                     (PERSIST_FSYNC=always|everysec|no, default everysec)

const cluster = require('node:cluster')
const { randomBytes } = require('node:crypto')

const config = {
  host: process.env.HOST || '127.0.0.1',
  port: Number(process.env.PORT || 3000),
  workers: Number(process.env.WORKERS || 4),
  sharedPort: process.env.SHARED_STATE_PATH ? undefined : Number(process.env.SHARED_STATE_PORT || 35791),
  sharedPath: process.env.SHARED_STATE_PATH || undefined,
  key: process.env.SHARED_STATE_KEY,
  redis: process.env.REDIS_URL || undefined,
  persistFile: process.env.PERSIST_FILE || undefined,
  persistFsync: process.env.PERSIST_FSYNC || 'everysec',
  logLevel: process.env.LOG_LEVEL || 'info'
}

if (cluster.isPrimary) startPrimary()
else startWorker()

function startPrimary () {
  if (!config.key && !config.redis) {
    if (process.env.NODE_ENV === 'production') {
      console.error('SHARED_STATE_KEY is not set. Every worker authenticates to the shared state with it;')
      console.error('set it to a long random secret, e.g. SHARED_STATE_KEY=$(openssl rand -hex 32)')
      process.exit(1)
    }
    // A demo key, fresh for each run, handed to the workers through their environment.
    process.env.SHARED_STATE_KEY = randomBytes(32).toString('hex')
    console.log('SHARED_STATE_KEY is not set: using a generated key for this demo run')
  }

  let stopping = false
  let ready = 0
  const fork = () => {
    const worker = cluster.fork()
    worker.on('message', (message) => {
      if (message?.ready && ++ready === config.workers) announce()
    })
  }
  for (let i = 0; i < config.workers; i++) fork()

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return
    console.log(`worker ${worker.process.pid} exited (${signal || code}); starting another`)
    fork()
  })

  const stop = () => {
    if (stopping) return
    stopping = true
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM')
    const forced = setTimeout(() => process.exit(1), 10000)
    forced.unref()
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers).length === 0) process.exit(0)
    })
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

function announce () {
  const url = `http://${config.host}:${config.port}`
  console.log(`ready: ${config.workers} workers on ${url}`)
  console.log('Try it: the count rises by one whichever worker answers')
  console.log(`  for i in $(seq 8); do curl -s ${url}/incr; echo; done`)
  console.log(`  curl -s ${url}/        (the same under the shared lock)`)
  console.log(`  curl -s ${url}/stats   (which worker answered, and its role)`)
  console.log(`  curl -s ${url}/visit/home; curl -s ${url}/visits   (nested counters, edited in place)`)
}

async function startWorker () {
  const { buildApp } = require('./app')
  const app = await buildApp(config)
  await app.listen({ host: config.host, port: config.port })
  process.send({ ready: true, pid: process.pid, role: app.shared.role })
  // pm2 stops a worker with SIGINT (its kill signal), the primary above with SIGTERM: either way
  // the app closes, so a host hands its state over instead of dying with it.
  let closing
  const close = () => {
    closing ??= app.close().then(() => process.exit(0))
  }
  process.on('SIGTERM', close)
  process.on('SIGINT', close)
}
