'use strict'

// A client worker of the failover scenario: `inflight` loops of awaited incr run through the
// host's SIGKILL; `settle` then says when the new host first answered this worker, counted from
// the kill instant the orchestrator passes (process.hrtime, the machine's monotonic clock, which
// every process on it shares), and how many calls failed.
//
// The counter starts at MARK on the host that is killed. Without persist its state dies with it,
// so a new host counts from 1: a reply below MARK can only come from the new host, and a reply the
// old host had sent before it died, read after the kill, is never taken for the new host's.

const { setImmediate: nextTurn, setTimeout: sleep } = require('node:timers/promises')
const { openShared } = require('../lib/plugin-app')
const { main, serve } = require('../lib/worker-ipc')

const KEY = 'bench:failover:n'
const MARK = 1e9

main(async () => {
  const connectTimeout = Number(process.env.BENCH_CONNECT_TIMEOUT) || undefined
  const app = await openShared({ port: Number(process.env.BENCH_SHARED_PORT), connectTimeout })
  if (app.shared.role !== 'client') throw new Error(`expected a client, got role ${app.shared.role}`)
  const { shared } = app
  await shared.set(KEY, MARK)

  const state = { stop: false, loops: [], ok: 0, okNew: 0, failed: 0, errors: {}, lastOld: undefined, firstNew: undefined }
  let servedByNew
  const served = new Promise((resolve) => { servedByNew = resolve })
  const loop = async () => {
    while (!state.stop) {
      try {
        const value = await shared.incr(KEY)
        const at = process.hrtime.bigint()
        state.ok++
        if (value > MARK) {
          state.lastOld = at
        } else {
          state.okNew++
          if (state.firstNew === undefined) {
            state.firstNew = at
            servedByNew()
          }
        }
      } catch (error) {
        state.failed++
        const code = error?.code ?? error?.name ?? 'error'
        state.errors[code] = (state.errors[code] ?? 0) + 1
        // A call that rejects at once must not spin this loop in microtasks, deaf to IPC.
        await nextTurn()
      }
    }
  }
  const since = (at, from) => at === undefined ? null : Number(at - from) / 1e6

  serve({
    start: ({ inflight }) => {
      if (state.loops.length > 0) throw new Error('the loops run already')
      state.loops = Array.from({ length: inflight }, loop)
      return { pid: process.pid }
    },
    // Waits up to `waitMs` for the new host's first answer, keeps loading `tailMs` more, stops.
    settle: async ({ killedAt, waitMs, tailMs }) => {
      const from = BigInt(killedAt)
      await Promise.race([served, sleep(waitMs)])
      await sleep(tailMs)
      state.stop = true
      // A call waits at most the plugin's timeout; the orchestrator's own limit bounds this too.
      await Promise.all(state.loops)
      return {
        role: app.shared.role,
        firstNewMs: since(state.firstNew, from),
        lastOldMs: since(state.lastOld, from),
        ok: state.ok,
        okNew: state.okNew,
        failed: state.failed,
        errors: state.errors
      }
    }
  })
})
