'use strict'

// The host process of the client-worker scenarios: it wins the election and then only serves.
// With BENCH_PERSIST_FILE (and BENCH_PERSIST_FSYNC) it logs every change to that file.

const { openShared } = require('../lib/plugin-app')
const { main, serve } = require('../lib/worker-ipc')

function persistOption () {
  const file = process.env.BENCH_PERSIST_FILE
  if (!file) return undefined
  return { file, fsync: process.env.BENCH_PERSIST_FSYNC || undefined }
}

main(async () => {
  const app = await openShared({ port: Number(process.env.BENCH_SHARED_PORT), persist: persistOption() })
  if (app.shared.role !== 'host') throw new Error(`expected to host, got role ${app.shared.role}`)
  serve({
    close: async () => app.close()
  }, { role: app.shared.role })
})
