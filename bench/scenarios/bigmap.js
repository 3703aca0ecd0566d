'use strict'

// A large map on one host: resident memory per small key against a redis-server filled with the
// same keys and a plain Map; a full garbage collection against a plain Map's; the longest host
// event-loop stall while a client reads or clears the whole map, while the host worker reads it
// itself, and while the change log is compacted, each with the longest collection in it and the
// longest slice of the host's own work apart (bench/lib/loop-watch.js); a prefix query of 11
// matches against a get; get/set/incr throughput on a large map against a map of 1 k keys. 1 M
// keys by default; BENCH_BIGMAP_10M=1 adds the 10 M rows, with a whole scan, a clear and a
// compaction (a few more minutes: most of it filling).

const { join } = require('node:path')
const { call, freePort, scope, stop } = require('../lib/processes')
const { redisAvailable, startRedis } = require('../lib/redis-server')
const { repeatWithin } = require('../lib/repeat')
const { row } = require('../lib/rows')
const { median } = require('../lib/stats')

const HOST = join(__dirname, '..', 'workers', 'bigmap-host.js')
const CLIENT = join(__dirname, '..', 'workers', 'bigmap-client.js')
const REDIS_FILLER = join(__dirname, '..', 'workers', 'bigmap-redis.js')
const COMPACTOR = join(__dirname, '..', 'workers', 'bigmap-compaction.js')
const MILLION = 1000000
const SMALL = 1000
const IN_FLIGHT = 64
const FILL_LIMIT_MS = 600000
// A window watching the host's loop runs this long past the operation's answer, for the collection
// of what it freed.
const TAIL_MS = 300
// Rounds of the 10 M throughput windows, the large and the small host taking turns.
const ROUNDS = 3
const TEN_MILLION = process.env.BENCH_BIGMAP_10M === '1'
// The young generation's cap the README suggests to a host that holds many keys (in MB per
// semi-space; V8's default on 64-bit is 16, which the fill's traffic reaches). Measured at 1 M
// keys only: at 10 M the young generation is a tenth as much per key, and another fill of 10 M
// would take minutes.
const SMALL_YOUNG_GENERATION = '--max-semi-space-size=2'
// A resting host waits at most this long for V8 to give its young generation back.
const REST_LIMIT_MS = 90000
// The host worker's own reads of the whole map, at 1 M keys.
const OWN_READS = ['keys', 'entries', 'scan']

function label (keys) {
  return keys >= MILLION ? `${keys / MILLION} M` : `${keys / 1000} k`
}

/** The prefix of `key:<keys/10 - 1>`: that key and the ten made of it and one more digit. */
function elevenMatches (keys) {
  return `key:${keys / 10 - 1}`
}

async function hostRss (mode, keys, flags = []) {
  const env = { BENCH_BIGMAP_MODE: mode, BENCH_SHARED_PORT: String(await freePort()) }
  return scope(async (start) => {
    const host = await start(HOST, { env, name: `bigmap host (${mode} ${flags.join(' ')})`, execArgv: ['--expose-gc', ...flags] })
    return call(host, 'fill', { keys }, FILL_LIMIT_MS)
  })
}

/**
 * A host filled with `keys` keys left idle until V8 gives back the young generation the fill
 * grew, while `meanwhile()` runs other processes' measurements (the wait costs the run little):
 * their results, and the host's as `rest` (`rssBytes` at rest, and `filledRssBytes` right after its fill).
 */
async function whileResting (keys, meanwhile) {
  const env = { BENCH_BIGMAP_MODE: 'shared', BENCH_SHARED_PORT: String(await freePort()) }
  return scope(async (start) => {
    const host = await start(HOST, { env, name: `bigmap host ${label(keys)} (resting)`, execArgv: ['--expose-gc'] })
    const filled = await call(host, 'fill', { keys }, FILL_LIMIT_MS)
    const others = await meanwhile()
    const rested = await call(host, 'rest', { maxMs: REST_LIMIT_MS }, REST_LIMIT_MS + 30000)
    return { ...others, rest: { ...rested, filledRssBytes: filled.rssBytes } }
  })
}

async function redisRss (keys) {
  if (!redisAvailable()) return undefined
  const redis = await startRedis()
  try {
    return await scope(async (start) => {
      const filler = await start(REDIS_FILLER, { name: 'bigmap redis filler' })
      return call(filler, 'fill', { url: redis.url, pid: redis.child.pid, keys }, FILL_LIMIT_MS)
    })
  } finally {
    await stop(redis.child)
  }
}

async function throughputs (client, keys, ms) {
  const rates = {}
  for (const op of ['get', 'set', 'incr']) rates[op] = await call(client, 'throughput', { op, keys, ms, inFlight: IN_FLIGHT }, ms + 60000)
  return rates
}

/** A host with `keys` keys and a client: prefix query, throughput, and the whole-map reads in `stalls`. */
async function onHost (keys, ctx, stalls) {
  const env = { BENCH_BIGMAP_MODE: 'shared', BENCH_SHARED_PORT: String(await freePort()) }
  return scope(async (start) => {
    const host = await start(HOST, { env, name: `bigmap host ${label(keys)}`, execArgv: ['--expose-gc'] })
    const filled = await call(host, 'fill', { keys }, FILL_LIMIT_MS)
    const client = await start(CLIENT, { env, name: `bigmap client ${label(keys)}` })
    const result = { filled }
    if (keys >= MILLION) {
      const { us, matches } = await call(client, 'latency', { calls: [['keys', elevenMatches(keys)], ['get', 'key:1']], rounds: 2000 }, 120000)
      result.prefix = { us: us[0], matches }
      result.get = { us: us[1] }
    }
    result.rates = await throughputs(client, keys, Math.round(2000 * ctx.scale))
    if (stalls.length > 0) {
      result.stalls = {}
      // The host worker's own whole-map reads first: clear comes last of the client's.
      if (keys === MILLION) {
        for (const op of OWN_READS) {
          const read = await call(host, 'ownRead', { op, tailMs: TAIL_MS }, 300000)
          if (read.count !== keys) throw new Error(`the host's own ${op} returned ${read.count} of ${keys} keys`)
          result.stalls[`own ${op}`] = read
        }
      }
      for (const op of stalls) {
        await call(host, 'watchLoop')
        const read = await call(client, 'wholeRead', { op }, 300000)
        if (op !== 'clear' && read.count !== keys) throw new Error(`${op} returned ${read.count} of ${keys} keys`)
        result.stalls[op] = { ...read, ...await call(host, 'loopDelay', { tailMs: TAIL_MS }) }
      }
    }
    return result
  })
}

/** The RSS per key of a redis-server and of a plain Map filled with the same keys in the same run. */
function rssBaselines (keys, results) {
  const perKey = (filled) => filled.rssBytes / keys
  const redis = results.filter((result) => result.redis !== undefined)
  return [
    redis.length > 0
      ? { label: 'redis-server RSS per key, same keys', samples: redis.map((result) => perKey(result.redis)) }
      : { label: 'redis-server', na: 'n/a: redis-server not found' },
    { label: 'plain Map of the same keys and values', samples: results.map((result) => perKey(result.map)) }
  ]
}

function memoryRow (keys, results, { field, flags }) {
  const perKey = (result) => result.rssBytes / keys
  const redis = results.filter((result) => result.redis !== undefined)
  const young = median(results.map((result) => result[field].youngBytes))
  return row({
    group: 'Big map',
    label: `host RSS per key, ${label(keys)} small keys (key:i -> i)${flags === undefined ? '' : `, host run with ${flags}`}`,
    unit: 'B',
    better: 'lower',
    samples: results.map((result) => perKey(result[field])),
    vs: rssBaselines(keys, results),
    note: (redis.length > 0 && flags === undefined ? `Redis used_memory ${median(redis.map((result) => result.redis.usedBytes / keys)).toFixed(0)} B/key; ` : '') +
      `of the host's, its V8 heap ${median(results.map((result) => result[field].heapBytes / keys)).toFixed(0)} B/key, ` +
      `of which V8's young generation grew ${(young / 2 ** 20).toFixed(0)} MiB (${(young / keys).toFixed(0)} B/key: a constant of the process, whatever the keys); ` +
      `filled in ${median(results.map((result) => result[field].seconds)).toFixed(1)} s in-process`
  })
}

/** RSS per key of a host at rest, against the same Redis and Map figures as memoryRow's. */
function restRow (keys, results) {
  const perKey = (bytes) => bytes / keys
  const rests = results.map((result) => result.rest)
  const waits = rests.map((rest) => rest.seconds)
  return row({
    group: 'Big map',
    label: `host RSS per key at rest, ${label(keys)} small keys (key:i -> i)`,
    unit: 'B',
    better: 'lower',
    samples: rests.map((rest) => perKey(rest.rssBytes)),
    vs: rssBaselines(keys, results),
    note: 'another host, filled and then idle until V8 gave back its young generation ' +
      `(${rests.every((rest) => rest.shrunk) ? 'measured' : `not in every run within ${REST_LIMIT_MS / 1000} s; measured`} ` +
      `${Math.min(...waits).toFixed(0)}..${Math.max(...waits).toFixed(0)} s after the fill, ` +
      `young generation ${(median(rests.map((rest) => rest.youngBytes)) / 2 ** 20).toFixed(0)} MiB); right after its fill it took ` +
      `${median(rests.map((rest) => perKey(rest.filledRssBytes))).toFixed(0)} B/key; a host under traffic keeps the young generation (the row above)`
  })
}

function collectionRow (keys, results) {
  return row({
    group: 'Big map',
    label: `host full garbage collection holding ${label(keys)} small keys`,
    unit: 'ms',
    better: 'lower',
    samples: results.map((result) => result.shared.gcMs),
    vs: [{ label: 'the same holding a plain Map of the same keys and values', samples: results.map((result) => result.map.gcMs) }],
    note: 'median of 5 collections forced with global.gc() right after the fill'
  })
}

function prefixRow (keys, results) {
  return row({
    group: 'Big map',
    label: `keys('${elevenMatches(keys)}'): ${results[0].prefix.matches} matches of ${label(keys)} keys`,
    unit: 'µs',
    better: 'lower',
    samples: results.map((result) => result.prefix.us),
    vs: [{ label: 'get of one key, same host', samples: results.map((result) => result.get.us) }],
    note: 'median of 2000 calls each, one after another and taking turns, from a client worker'
  })
}

function throughputRows (keys, results, small) {
  return ['get', 'set', 'incr'].map((op) => row({
    group: 'Big map',
    label: `${op} throughput at ${label(keys)} keys (${IN_FLIGHT} in flight, random keys)`,
    unit: 'ops/s',
    samples: results.map((result) => result.rates[op]),
    vs: [{ label: `${op} at ${label(SMALL)} keys, same run`, samples: small.map((result) => result.rates[op]) }]
  }))
}

const WHERE = {
  own: ' in the host worker',
  compaction: ": the host's engine and change log (fsync 'no') in a process of their own, no socket"
}

function stallLabel (op) {
  if (op.startsWith('own ')) return `the host worker's own ${op === 'own scan' ? "scan('')" : `${op.slice(4)}()`}`
  if (op === 'scan') return "a scan('')"
  return op === 'compaction' ? 'a compaction of the change log' : `${op}()`
}

/**
 * Two rows per watched operation: the longest stall of the host's loop, what a user of the host
 * sees, whatever caused it; and the longest slice of the host's own work in it, without the
 * collections (V8's) and the time the main thread waited for a CPU (other processes' on this
 * machine, or the host's other threads).
 */
function stallRows (keys, results, ops) {
  return ops.flatMap((op) => {
    const watched = results.map((result) => result.stalls[op])
    const ms = median(watched.map((one) => one.ms))
    const gc = watched.map((one) => one.maxGcMs)
    return [row({
      group: 'Big map',
      label: `max host event-loop delay during ${stallLabel(op)} of ${label(keys)} keys`,
      unit: 'ms',
      better: 'lower',
      samples: watched.map((one) => one.maxDelayMs),
      note: `${op} took ${ms.toFixed(0)} ms${WHERE[op.split(' ')[0]] ?? ' from a client worker'}; ` +
        `the window runs ${TAIL_MS} ms past the answer; longest collection ${Math.min(...gc).toFixed(1)}..${Math.max(...gc).toFixed(1)} ms ` +
        `(${watched.map((one) => one.maxGcKind).join(', ')}); longest stall without its collections ` +
        `${watched.map((one) => one.maxWithoutGcMs.toFixed(1)).join(', ')} ms`
    }), row({
      group: 'Big map',
      label: `longest slice of the host's own work during ${stallLabel(op)} of ${label(keys)} keys`,
      unit: 'ms',
      better: 'lower',
      samples: watched.map((one) => one.maxOwnMs),
      note: 'a stall without the collections in it and the time the main thread waited for a CPU (/proc/thread-self/schedstat)'
    })]
  })
}

/** A compaction of the change log of a host engine holding `keys` keys, watched from its own loop. */
async function compaction (keys) {
  return scope(async (start) => {
    const worker = await start(COMPACTOR, { name: `bigmap compaction ${label(keys)}`, execArgv: ['--expose-gc'] })
    await call(worker, 'fill', { keys }, FILL_LIMIT_MS)
    return call(worker, 'compact', { tailMs: TAIL_MS }, FILL_LIMIT_MS)
  })
}

/**
 * Windows of get, set and incr on each side in turn, ROUNDS rounds: `measure(side, op, ms)` gives
 * one window's rate, added to `side.rates[op]`.
 */
async function inTurns (ctx, sides, measure) {
  const ms = Math.round(2000 * ctx.scale)
  for (let round = 0; round < ROUNDS; round++) {
    for (const op of ['get', 'set', 'incr']) {
      for (const side of sides) side.rates[op].push(await measure(side, op, ms))
    }
  }
}

/**
 * get/set/incr at `keys` keys against 1 k keys, the two hosts up side by side and measured in
 * turns (ROUNDS rounds, each op a window on one host then the other), so a change in the
 * machine's load between them shows in both. For 10 M keys, whose host takes a run of its own.
 */
async function alternatingRates (ctx, keys) {
  return scope(async (start) => {
    const sides = []
    for (const size of [keys, SMALL]) {
      const env = { BENCH_BIGMAP_MODE: 'shared', BENCH_SHARED_PORT: String(await freePort()) }
      const host = await start(HOST, { env, name: `bigmap host ${label(size)} (in turns)`, execArgv: ['--expose-gc'] })
      const filled = await call(host, 'fill', { keys: size }, FILL_LIMIT_MS)
      const client = await start(CLIENT, { env, name: `bigmap client ${label(size)} (in turns)` })
      sides.push({ size, filled, client, rates: { get: [], set: [], incr: [] } })
    }
    await inTurns(ctx, sides, (side, op, ms) => call(side.client, 'throughput', { op, keys: side.size, ms, inFlight: IN_FLIGHT }, ms + 60000))
    return sides.map((side) => ({ filled: side.filled, samples: side.rates }))
  })
}

/**
 * The same windows against two private redis-servers, one filled with `keys` keys and one with
 * 1 k, in turns: how much a large map costs Redis itself on this machine. Undefined without
 * redis-server.
 */
async function redisAlternatingRates (ctx, keys) {
  if (!redisAvailable()) return undefined
  const servers = []
  try {
    for (let i = 0; i < 2; i++) servers.push(await startRedis())
    return await scope(async (start) => {
      const sides = []
      for (const [i, size] of [keys, SMALL].entries()) {
        const worker = await start(REDIS_FILLER, { name: `bigmap redis ${label(size)} (in turns)` })
        await call(worker, 'fill', { url: servers[i].url, pid: servers[i].child.pid, keys: size }, FILL_LIMIT_MS)
        sides.push({ worker, url: servers[i].url, size, rates: { get: [], set: [], incr: [] } })
      }
      await inTurns(ctx, sides, (side, op, ms) => call(side.worker, 'throughput', { url: side.url, op, keys: side.size, ms, inFlight: IN_FLIGHT }, ms + 60000))
      return sides.map((side) => side.rates)
    })
  } finally {
    for (const server of servers) await stop(server.child)
  }
}

function redisAlternatingRows (keys, [large, small]) {
  return ['get', 'set', 'incr'].map((op) => row({
    group: 'Big map',
    label: `Redis ${op} throughput at ${label(keys)} keys (ioredis auto-pipelined, ${IN_FLIGHT} in flight)`,
    unit: 'ops/s',
    samples: large[op],
    vs: [{ label: `Redis ${op} at ${label(SMALL)} keys, same run`, samples: small[op] }],
    note: op === 'get' ? `${ROUNDS} rounds, two redis-servers in turns: the same windows as the host's rows above` : undefined
  }))
}

function alternatingRows (keys, [large, small]) {
  return ['get', 'set', 'incr'].map((op) => row({
    group: 'Big map',
    label: `${op} throughput at ${label(keys)} keys (${IN_FLIGHT} in flight, random keys)`,
    unit: 'ops/s',
    samples: large.samples[op],
    vs: [{ label: `${op} at ${label(SMALL)} keys, same run`, samples: small.samples[op] }],
    note: op === 'get'
      ? `${ROUNDS} rounds, the two hosts in turns; the fill grew the large host's young generation ${(large.filled.youngBytes / 2 ** 20).toFixed(0)} MiB`
      : undefined
  }))
}

async function measureSize (ctx, keys, stalls, small) {
  const { results, cut } = await repeatWithin(ctx, 60000 * ctx.scale, `bigmap ${label(keys)}`, async () => {
    const host = await onHost(keys, ctx, stalls)
    // The other processes' measurements run while a host of as many keys rests.
    const measured = await whileResting(keys, async () => ({
      compaction: await compaction(keys),
      smallYoung: keys === MILLION ? await hostRss('shared', keys, [SMALL_YOUNG_GENERATION]) : undefined,
      map: await hostRss('map', keys),
      redis: await redisRss(keys),
      small: small ?? await onHost(SMALL, ctx, [])
    }))
    host.stalls.compaction = measured.compaction
    return { ...measured, host, shared: host.filled }
  })
  const rows = [
    memoryRow(keys, results, { field: 'shared' }),
    restRow(keys, results),
    ...(keys === MILLION ? [memoryRow(keys, results, { field: 'smallYoung', flags: SMALL_YOUNG_GENERATION })] : []),
    collectionRow(keys, results),
    prefixRow(keys, results.map((result) => result.host)),
    ...(small !== undefined ? [] : throughputRows(keys, results.map((result) => result.host), results.map((result) => result.small))),
    ...stallRows(keys, results.map((result) => result.host), Object.keys(results[0].host.stalls))
  ]
  if (cut) rows[0].note += `; ${cut}`
  return { rows, small: results[0].small }
}

async function run (ctx) {
  const million = await measureSize(ctx, MILLION, ['keys', 'entries', 'scan', 'clear'])
  const rows = million.rows
  // The 1 k baseline of the 1 M run serves the 10 M rows too: same run, same code.
  // At 10 M keys, the reads that do not gather the whole map in the client worker.
  if (TEN_MILLION) {
    rows.push(...(await measureSize({ ...ctx, runs: 1 }, 10 * MILLION, ['scan', 'clear'], million.small)).rows)
    rows.push(...alternatingRows(10 * MILLION, await alternatingRates(ctx, 10 * MILLION)))
    const redis = await redisAlternatingRates(ctx, 10 * MILLION)
    if (redis !== undefined) rows.push(...redisAlternatingRows(10 * MILLION, redis))
  }
  return rows
}

module.exports = { name: 'bigmap', run, limitMs: TEN_MILLION ? 1200000 : undefined }
