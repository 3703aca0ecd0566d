'use strict'

// The host process of the client-worker scenarios: it wins the election and then only serves.

const { openShared } = require('../lib/plugin-app')
const { main, serve } = require('../lib/worker-ipc')

main(async () => {
  const app = await openShared({ port: Number(process.env.BENCH_SHARED_PORT) })
  if (app.shared.role !== 'host') throw new Error(`expected to host, got role ${app.shared.role}`)
  serve({
    close: async () => app.close()
  }, { role: app.shared.role })
})
