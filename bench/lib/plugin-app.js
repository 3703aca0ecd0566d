'use strict'

// A Fastify instance with the plugin registered and nothing else: what a worker of a clustered
// app holds, without the HTTP server. Whichever process registers first on a port hosts.

const Fastify = require('fastify')
const { sharedState } = require('fastify-shared-state')

const BENCH_KEY = 'bench-key-0123456789abcdef-0123456789'

async function openShared ({ port, timeout = 30000 }) {
  const app = Fastify({ logger: false })
  await app.register(sharedState, { port, key: BENCH_KEY, timeout })
  await app.ready()
  return app
}

module.exports = { openShared, BENCH_KEY }
