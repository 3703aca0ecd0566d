'use strict'

// A Fastify instance with the plugin registered and nothing else: what a worker of a clustered
// app holds, without the HTTP server. Whichever process registers first on a port hosts.
// `persist` ({ file, fsync }) makes a host log every change; `connectTimeout` is the plugin's.
// BENCH_TLS=1 in a worker's environment turns the plugin's `tls: true` on (the tls scenario).

const Fastify = require('fastify')
const { sharedState } = require('fastify-shared-state')

const BENCH_KEY = 'bench-key-0123456789abcdef-0123456789'

async function openShared ({ port, timeout = 30000, connectTimeout, persist }) {
  const app = Fastify({ logger: false })
  const options = { port, key: BENCH_KEY, timeout }
  if (connectTimeout !== undefined) options.connectTimeout = connectTimeout
  if (persist !== undefined) options.persist = persist
  if (process.env.BENCH_TLS === '1') options.tls = true
  await app.register(sharedState, options)
  await app.ready()
  return app
}

module.exports = { openShared, BENCH_KEY }
