'use strict'

// The host's engine with a change log (`persist`, fsync 'no') in a process of its own, no socket:
// fills N small keys (`key:i` -> i) without logging them, then compacts the log (a snapshot of the
// whole map written beside it, then renamed over it) while watching its own event loop. The map,
// the journal and the compaction are the host's own code; only the way in is not a plugin.

const { mkdtempSync, readdirSync, rmSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { join } = require('node:path')
const { setImmediate: nextTurn, setTimeout: sleep } = require('node:timers/promises')
const { LoopWatch } = require('../lib/loop-watch')
const { main, serve } = require('../lib/worker-ipc')
const { ValueCodec } = require('../../dist/protocol/codec')
const { openEngine } = require('../../dist/host/persistence/state-journal')

const FILL_SLICE = 100000
const POLL_MS = 10
const LIMIT_MS = 300000

/** True while a snapshot is being written beside the log (its `.tmp` file exists). */
function compacting (dir) {
  return readdirSync(dir).some((name) => name.endsWith('.tmp'))
}

main(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bigmap-compaction-'))
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  const codec = new ValueCodec()
  const report = { warn: (message) => console.error(message), error: (message) => console.error(message) }
  const engine = await openEngine(codec, { file: join(dir, 'state.log'), fsync: 'no' }, undefined, report)
  serve({
    fill: async ({ keys }) => {
      // The keys go in unlogged: the compaction writes them all, whatever the log held before.
      const logChange = engine.state.onChange
      engine.state.onChange = undefined
      for (let start = 0; start < keys; start += FILL_SLICE) {
        for (let i = start; i < Math.min(keys, start + FILL_SLICE); i++) engine.state.put(`key:${i}`, codec.encode(i), 0)
        await nextTurn()
      }
      engine.state.onChange = logChange
      if (engine.state.size !== keys) throw new Error(`expected ${keys} keys, found ${engine.state.size}`)
      return null
    },
    // A full collection first, as for the other windows, then one compaction from its start until
    // its snapshot replaced the log, and `tailMs` more.
    compact: async ({ tailMs }) => {
      global.gc()
      const watch = new LoopWatch().start()
      const started = process.hrtime.bigint()
      engine.journal.compact()
      const limit = Date.now() + LIMIT_MS
      while (!compacting(dir)) {
        if (Date.now() > limit) throw new Error('no compaction started')
        await sleep(1)
      }
      while (compacting(dir)) {
        if (Date.now() > limit) throw new Error('the compaction did not end')
        await sleep(POLL_MS)
      }
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      await sleep(tailMs)
      return { ms, ...watch.stop() }
    }
  })
})
