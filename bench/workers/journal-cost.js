'use strict'

// The change log's own CPU per incr, in-process: two host engines in one process, one with a
// change log (fsync 'no') and one without, run incr from four client ids in turns, no socket. The
// difference is what logging adds to a mutation on the host's loop (the change record, the
// request's record encoded into the queue, the writes and compactions), without the noise of
// five processes sharing two vCPUs that the socket rows carry.

const { mkdtempSync, rmSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { join } = require('node:path')
const { setImmediate: nextTurn } = require('node:timers/promises')
const { main, serve } = require('../lib/worker-ipc')
const { ValueCodec } = require('../../dist/protocol/codec')
const { opCode } = require('../../dist/protocol/messages')
const { closeEngine, openEngine } = require('../../dist/host/persistence/state-journal')
const { median } = require('../lib/stats')

const CLIENTS = 4
// A turn of the loop every this many calls, so timers (the log's writes) run as on a host.
const CALLS_PER_TURN = 1024

/** CPU µs per incr over `calls` calls of `engine`, ids going on from `ids`. */
async function cpuPerIncr (engine, stores, ids, calls) {
  const incr = opCode('incr')
  const before = process.cpuUsage()
  for (let i = 0; i < calls; i++) {
    const reply = engine.execute(stores[i % CLIENTS], ++ids.next, incr, ['bench:n', 1, undefined])
    if (reply instanceof Promise) await reply
    if (i % CALLS_PER_TURN === CALLS_PER_TURN - 1) await nextTurn()
  }
  const used = process.cpuUsage(before)
  return (used.user + used.system) / calls
}

main(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'journal-cost-'))
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  const report = { warn: (message) => console.error(message), error: (message) => console.error(message) }
  const engines = {
    none: await openEngine(new ValueCodec(), undefined, undefined, report),
    logged: await openEngine(new ValueCodec(), { file: join(dir, 'state.log'), fsync: 'no' }, undefined, report)
  }
  const stores = Object.fromEntries(Object.entries(engines).map(([name, engine]) =>
    [name, Array.from({ length: CLIENTS }, (_, i) => engine.storeFor(`bench-client-${i}`))]))
  const ids = { next: 0 }
  serve({
    // `rounds` turns of `calls` incr each, the two engines alternating; medians in µs per incr.
    measure: async ({ calls, rounds }) => {
      for (const name of Object.keys(engines)) await cpuPerIncr(engines[name], stores[name], ids, calls / 4)
      const samples = { none: [], logged: [] }
      for (let round = 0; round < rounds; round++) {
        for (const name of round % 2 === 0 ? ['none', 'logged'] : ['logged', 'none']) {
          samples[name].push(await cpuPerIncr(engines[name], stores[name], ids, calls))
        }
      }
      return { none: median(samples.none), logged: median(samples.logged) }
    },
    close: async () => {
      for (const engine of Object.values(engines)) {
        await closeEngine(engine)
        engine.close(new Error('closed'))
      }
    }
  })
})
