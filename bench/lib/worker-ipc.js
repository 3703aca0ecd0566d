'use strict'

// The child side of processes.call(): a worker announces itself with `{ ready }` and answers each
// `{ id, cmd }` with `{ id, result }` or `{ id, error }`. A worker whose parent is gone exits, so an
// orchestrator killed with SIGKILL leaves nothing running.

function serve (handlers, readyInfo = {}) {
  process.on('message', async (message) => {
    const handler = handlers[message?.cmd]
    try {
      if (handler === undefined) throw new Error(`unknown command ${message?.cmd}`)
      const result = await handler(message)
      process.send({ id: message.id, result })
    } catch (error) {
      process.send({ id: message.id, error: error?.stack || String(error) })
    }
  })
  process.on('disconnect', () => process.exit(0))
  process.send({ ready: true, pid: process.pid, ...readyInfo })
}

/** Awaits a worker's start-up, reporting a failure to the parent instead of dying silently. */
function main (start) {
  start().catch((error) => {
    if (process.connected) process.send({ error: error?.stack || String(error) })
    else console.error(error)
    process.exitCode = 1
    setTimeout(() => process.exit(1), 100).unref()
  })
}

module.exports = { serve, main }
