'use strict'

// autocannon in its own process, so the load generator's event loop is nobody else's.

const autocannon = require('autocannon')
const { main, serve } = require('../lib/worker-ipc')

main(async () => {
  serve({
    load: async ({ url, connections, seconds }) => {
      const result = await autocannon({ url, connections, duration: seconds })
      const bad = result.errors + result.timeouts + result.non2xx
      return {
        rps: result.requests.total / result.duration,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        total: result.requests.total,
        bad
      }
    }
  })
})
