'use strict'

// A client worker of the fsync scenario: one plugin instance per host, each host on its own port
// with its own persist mode (BENCH_SHARED_PORTS=mode:port,...), so the same 4 processes load
// every mode in turn. `use` picks the host that `run` (as load-client.js's), `offer` (a fixed
// rate instead) and `latency` call. Ops: `incr`, and `mix`, nine gets for one incr (under
// 'always' a read waits for the fsync of the changes logged before it, as a write does).

const { openShared } = require('../lib/plugin-app')
const { main, serve } = require('../lib/worker-ipc')
const { LatencyRecorder, loadWindow, offeredLoad } = require('./timing')

async function openAll (spec) {
  const targets = {}
  for (const pair of spec.split(',')) {
    const [mode, port] = pair.split(':')
    const app = await openShared({ port: Number(port) })
    if (app.shared.role !== 'client') throw new Error(`expected a client of ${mode}, got role ${app.shared.role}`)
    targets[mode] = app.shared
  }
  return targets
}

main(async () => {
  const targets = await openAll(process.env.BENCH_SHARED_PORTS)
  let ops
  const needs = (op) => {
    if (ops === undefined) throw new Error('no host chosen: send use first')
    const fn = ops[op]
    if (fn === undefined) throw new Error(`the fsync client runs incr and mix, not ${op}`)
    return fn
  }
  serve({
    use: ({ target }) => {
      const shared = targets[target]
      if (shared === undefined) throw new Error(`no host for ${target}`)
      let calls = 0
      ops = {
        incr: () => shared.incr('bench:n'),
        mix: () => ++calls % 10 === 0 ? shared.incr('bench:n') : shared.get('bench:n')
      }
    },
    run: ({ op, inflight, startAt, warmupMs, durationMs }) =>
      loadWindow(needs(op), { inflight, startAt, warmupMs, durationMs }),
    // `rate` calls a second, answered or not (see offeredLoad).
    offer: ({ op, rate, startAt, durationMs }) => offeredLoad(needs(op), { rate, startAt, durationMs }),
    // Single awaited calls, one at a time: `warmupCalls` untimed, then `calls` timed.
    latency: async ({ op, calls, warmupCalls = 0 }) => {
      const fn = needs(op)
      const recorder = new LatencyRecorder()
      await recorder.block(fn, warmupCalls, false)
      await recorder.block(fn, calls)
      return recorder.summary()
    }
  })
})
