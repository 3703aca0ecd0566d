'use strict'

// Moving and recovering a large state, against Redis' own AOF reload of the same keys in the same
// run: a host holding KEYS keys `key:<i>` -> `<i>` hands them over on `app.close()` to a worker,
// timed from the close until the successor answers as host; a host with persist 'everysec' that
// filled them and rewrote the first tenth again is SIGKILLed, and a new process is timed from its
// start until it answers with every key; redis-server fills the same keys with appendonly (RDB
// preamble), rewrites its AOF, takes the same writes again, shuts down and is timed from its
// start until it answers PING. The log's own compaction runs during those writes and folds most
// of them into its snapshot, as it would in use: the row notes what the log held at the kill.
// So that a tail of all 100 k writes is measured too, the recovered host takes the same writes
// again (too few to start a compaction) with a worker connected, is SIGKILLed, and that worker is
// timed from the kill until it answers as host with every key (a clustered app's recovery); then
// it is SIGKILLed in turn and the next new process is timed as the first. Then the log and the
// AOF sizes, and INCR throughput of Redis per appendfsync (redis-benchmark), the counterpart of
// the fsync scenario's rows. The order of the three measurements turns each run, so drift does
// not always favour the same one.

const { once } = require('node:events')
const { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } = require('node:fs')
const os = require('node:os')
const { join } = require('node:path')
const { setTimeout: sleep } = require('node:timers/promises')
const { call, commandRuns, freePort, scope } = require('../lib/processes')
const { measureAofReload, measureAofThroughput } = require('../lib/redis-aof')
const { repeatWithin } = require('../lib/repeat')
const { naRow, row } = require('../lib/rows')
const { median } = require('../lib/stats')
const { FILE_HEADER_BYTES, parseFileHeader } = require('../../dist/host/persistence/record-format')

const NODE = join(__dirname, '..', 'workers', 'handover-node.js')
const KEYS = 1_000_000
const TAIL = KEYS / 10
const CALL_MS = 600000
const GROUP = `Handover and recovery of ${KEYS / 1e6} M keys key:<i> -> <i> (Redis: its AOF reload, same keys, same run)`
const AOF_MODES = ['none', 'always', 'everysec', 'no']
const MiB = 1048576

async function handover () {
  return scope(async (start) => {
    const env = { BENCH_SHARED_PORT: String(await freePort()) }
    const host = await start(NODE, { env, name: 'recover: closing host' })
    const successor = await start(NODE, { env, name: 'recover: successor' })
    await call(host, 'fill', { keys: KEYS }, CALL_MS)
    const probe = call(successor, 'probe', { keys: KEYS }, CALL_MS)
    const closedAt = Date.now()
    await call(host, 'close', {}, CALL_MS)
    const served = await probe
    if (served.size !== KEYS || served.last !== KEYS - 1) throw new Error(`the successor holds ${served.size} keys`)
    return served.servedAt - closedAt
  })
}

/** The log's size, and the bytes after its header and snapshot section. */
function logShape (file) {
  const header = Buffer.alloc(FILE_HEADER_BYTES)
  const fd = openSync(file, 'r')
  try {
    readSync(fd, header, 0, FILE_HEADER_BYTES, 0)
  } finally {
    closeSync(fd)
  }
  const parsed = parseFileHeader(header)
  if (typeof parsed === 'string') throw new Error(`${file}: ${parsed}`)
  const bytes = statSync(file).size
  return { bytes, tailBytes: bytes - FILE_HEADER_BYTES - parsed.snapshotBytes }
}

/**
 * SIGKILLs `host` once 'everysec' has had the last second reach the disk; the log as it was, and
 * when the signal was sent (epoch ms).
 */
async function killAfterSync (host, file) {
  await sleep(1500)
  const shape = logShape(file)
  const killedAt = Date.now()
  process.kill(host.pid, 'SIGKILL')
  await once(host, 'exit')
  return { ...shape, killedAt }
}

/** Starts a new host on the log and times it from its start until it answers with every key. */
async function timedRecovery (start, env, name) {
  const started = process.hrtime.bigint()
  const host = await start(NODE, { env, name, readyMs: CALL_MS })
  const size = await call(host, 'size', {}, CALL_MS)
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  if (size !== KEYS) throw new Error(`the new host holds ${size} keys`)
  return { host, ms }
}

async function recovery () {
  const dir = mkdtempSync(join(os.tmpdir(), 'fastify-shared-state-bench-recover-'))
  try {
    return await scope(async (start) => {
      const file = join(dir, 'state.log')
      const env = { BENCH_SHARED_PORT: String(await freePort()), BENCH_PERSIST_FILE: file, BENCH_PERSIST_FSYNC: 'everysec' }
      const host = await start(NODE, { env, name: 'recover: host with persist' })
      await call(host, 'fill', { keys: KEYS }, CALL_MS)
      await call(host, 'fill', { keys: TAIL }, CALL_MS)
      const { bytes, tailBytes } = await killAfterSync(host, file)
      const recovered = await timedRecovery(start, env, 'recover: new host')
      await call(recovered.host, 'fill', { keys: TAIL }, CALL_MS)
      const survivor = await start(NODE, { env, name: 'recover: surviving worker' })
      const probe = call(survivor, 'probe', { keys: KEYS }, CALL_MS)
      const longTail = await killAfterSync(recovered.host, file)
      const served = await probe
      if (served.size !== KEYS) throw new Error(`the surviving worker holds ${served.size} keys`)
      process.kill(survivor.pid, 'SIGKILL')
      await once(survivor, 'exit')
      const again = await timedRecovery(start, env, 'recover: next new host')
      return {
        ms: recovered.ms,
        bytes,
        tailBytes,
        longTailMs: again.ms,
        longTailBytes: longTail.tailBytes,
        survivorMs: served.servedAt - longTail.killedAt
      }
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function oneRun (i) {
  const steps = {
    handover: async () => ({ handoverMs: await handover() }),
    recovery: async () => {
      const { ms, bytes, tailBytes, longTailMs, longTailBytes, survivorMs } = await recovery()
      return { recoveryMs: ms, logBytes: bytes, tailBytes, longTailMs, longTailBytes, survivorMs }
    },
    redis: async () => {
      const { reloadMs, aofBytes } = await measureAofReload({ keys: KEYS, tailWrites: TAIL })
      return { redisMs: reloadMs, aofBytes }
    }
  }
  const order = Object.keys(steps)
  const result = {}
  for (let k = 0; k < order.length; k++) Object.assign(result, await steps[order[(k + i) % order.length]]())
  return result
}

/** The median of byte counts, in MB with one decimal. */
function megabytes (samples) {
  return (median(samples) / MiB).toFixed(1)
}

async function run (ctx) {
  if (!commandRuns('redis-server', ['--version'])) return [naRow(GROUP, 'handover, recovery, AOF reload', 'redis-server not found')]
  const { results, cut } = await repeatWithin(ctx, 60000 * ctx.scale, 'recover', oneRun)
  const all = (field) => results.map((result) => result[field])
  const redis = { label: 'redis-server AOF reload (RDB preamble + 100 k writes)', samples: all('redisMs') }
  const rows = [
    row({ group: GROUP, label: 'graceful handover: app.close() to the successor answering', unit: 'ms', better: 'lower', samples: all('handoverMs'), vs: [redis], note: cut }),
    row({
      group: GROUP,
      label: "kill -9 (persist 'everysec', 1 M keys then 100 k writes): start to every key served",
      unit: 'ms',
      better: 'lower',
      samples: all('recoveryMs'),
      vs: [redis],
      note: `the log after its own compaction: ${megabytes(all('tailBytes'))} MB of records after the snapshot`
    }),
    row({
      group: GROUP,
      label: 'the same with all 100 k writes in the log after the snapshot',
      unit: 'ms',
      better: 'lower',
      samples: all('longTailMs'),
      vs: [redis],
      note: `${megabytes(all('longTailBytes'))} MB of records after the snapshot`
    }),
    row({
      group: GROUP,
      label: 'the same log, a worker of the killed host taking over: kill to every key served',
      unit: 'ms',
      better: 'lower',
      samples: all('survivorMs'),
      vs: [redis],
      note: 'a worker already running (a clustered app) has no process to start and nothing to require'
    }),
    row({
      group: GROUP,
      label: 'change log on disk (snapshot + tail)',
      unit: 'MB',
      better: 'lower',
      samples: all('logBytes').map((bytes) => bytes / MiB),
      vs: [{ label: "Redis' AOF directory", samples: all('aofBytes').map((bytes) => bytes / MiB) }]
    })
  ]
  if (commandRuns('redis-benchmark', ['--version'])) {
    const rates = []
    for (let i = 0; i < results.length; i++) rates.push(await measureAofThroughput({ requests: Math.round(200000 * ctx.scale), clients: 50, modes: AOF_MODES }))
    for (const mode of AOF_MODES.slice(1)) {
      rows.push(row({
        group: GROUP,
        label: `Redis INCR (redis-benchmark, 50 clients), appendfsync ${mode}`,
        unit: 'ops/s',
        samples: rates.map((rate) => rate[mode]),
        vs: [{ label: 'Redis INCR without AOF', samples: rates.map((rate) => rate.none) }]
      }))
    }
  }
  return rows
}

module.exports = { name: 'recover', run }
