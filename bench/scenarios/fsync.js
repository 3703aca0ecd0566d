'use strict'

// The cost of persist: incr from 4 client workers x 16 in flight against a host that logs every
// change with fsync 'always' (group commit), 'everysec' and 'no', and against one without persist
// (the baseline), in the same run; the same with nine gets for each incr (under 'always' a read
// waits for the fsync of what was logged before it); and the single awaited incr p50 from one
// client, 'always' against no persist; the host's main-thread CPU per incr under one fixed offered
// load, 'everysec' and 'no' against no persist, in turns; and, in a process of its own, the log's
// CPU per incr: an engine with a change log against one without, in turns. Within a run the modes
// take turns five times, a window of a second each (on this kind of shared 2-vCPU VM one window's
// rate swings by 20 % either way, with the scheduling of five busy processes). Each run starts
// fresh processes: one host per mode, each on its own port, and 4 client workers connected to all
// of them, which load one mode after the other. The logs go to a temporary directory, removed
// afterwards.

const { mkdtempSync, readFileSync, realpathSync, rmSync } = require('node:fs')
const os = require('node:os')
const { join, sep } = require('node:path')
const { call, freePort, scope } = require('../lib/processes')
const { repeatWithin } = require('../lib/repeat')
const { naRow, row } = require('../lib/rows')
const { median } = require('../lib/stats')
const { loadTogether, warmUp, WORKERS } = require('./load')

const HOST = join(__dirname, '..', 'workers', 'host.js')
const CLIENT = join(__dirname, '..', 'workers', 'fsync-client.js')
const JOURNAL_COST = join(__dirname, '..', 'workers', 'journal-cost.js')
const MODES = ['none', 'always', 'everysec', 'no']
const LATENCY_MODES = ['none', 'always']
const INFLIGHT = 16
const ROUNDS = 5
// The fixed-load turns: this share of the slowest of these modes' flat-out rate in the run.
const OFFERED_MODES = ['none', 'everysec', 'no']
const OFFERED_SHARE = 0.6
const OFFERED_ROUNDS = 5
const GROUP = `Persistence: incr with persist.fsync modes (${WORKERS} client workers; host logs every change)`

/** The filesystem type `path` lives on, from /proc/mounts (Linux); fsync's cost depends on it. */
function filesystemOf (path) {
  try {
    let best = { point: '', type: 'unknown' }
    for (const line of readFileSync('/proc/mounts', 'utf8').trim().split('\n')) {
      const [, point, type] = line.split(' ')
      const inside = path === point || path.startsWith(point.endsWith(sep) ? point : point + sep)
      if (inside && point.length >= best.point.length) best = { point, type }
    }
    return best.type
  } catch {
    return 'unknown'
  }
}

/**
 * CPU time the process `pid` has used so far, in ms, from /proc (Linux; undefined elsewhere): its
 * main thread's own (schedstat, in ns) and all its threads' (stat, in clock ticks of 10 ms).
 */
function cpuOf (pid) {
  try {
    const mainNs = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0])
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
    return { main: mainNs / 1e6, all: (Number(fields[11]) + Number(fields[12])) * 10 }
  } catch {
    return undefined
  }
}

/** Starts one host per mode, each on its own port, and the 4 client workers of them all. */
async function startAll (start, dir, run, pids) {
  const ports = {}
  for (const mode of MODES) ports[mode] = await freePort()
  await Promise.all(MODES.map((mode) => start(HOST, {
    name: `fsync host (${mode})`,
    env: mode === 'none'
      ? { BENCH_SHARED_PORT: String(ports[mode]) }
      : { BENCH_SHARED_PORT: String(ports[mode]), BENCH_PERSIST_FILE: join(dir, `${mode}-${run}.log`), BENCH_PERSIST_FSYNC: mode }
  }))).then((hosts) => { hosts.forEach((host, i) => { pids[MODES[i]] = host.pid }) })
  const spec = MODES.map((mode) => `${mode}:${ports[mode]}`).join(',')
  return Promise.all(Array.from({ length: WORKERS }, (_, i) => start(CLIENT, {
    env: { BENCH_SHARED_PORTS: spec },
    name: `fsync client ${i + 1}`
  })))
}

async function useAll (clients, mode) {
  await Promise.all(clients.map((client) => call(client, 'use', { target: mode })))
}

async function oneRun (ctx, dir, run) {
  return scope(async (start) => {
    const pids = {}
    const clients = await startAll(start, dir, run, pids)
    // An incr window is a second long: its rate swings less with the scheduling of five busy
    // processes on two vCPUs than a shorter one's.
    const window = { warmupMs: Math.round(150 * ctx.scale), durationMs: Math.round(1000 * ctx.scale) }
    const mixWindow = { warmupMs: Math.round(150 * ctx.scale), durationMs: Math.round(450 * ctx.scale) }
    // The clients' code reaches the optimizing compiler once, on the host without persist; each
    // host then gets its own untimed load, and the single-call latency is taken before any load
    // of its host, so a compaction the load started does not sit in the timed calls.
    await useAll(clients, 'none')
    await warmUp(clients, ['incr'], Math.round(800 * ctx.scale))
    const latency = {}
    for (const mode of MODES) {
      await useAll(clients, mode)
      if (LATENCY_MODES.includes(mode)) {
        latency[mode] = await call(clients[0], 'latency', {
          op: 'incr', warmupCalls: Math.round(200 * ctx.scale), calls: Math.round(500 * ctx.scale)
        }, 60000)
      }
      await warmUp(clients, ['incr', 'mix'], Math.round(400 * ctx.scale))
    }
    // Then the modes take turns, ROUNDS times, each round in another order, so drift of the
    // machine's load over the run reaches every mode alike; a mode's figure is its median.
    const rates = Object.fromEntries(MODES.map((mode) => [mode, { rate: [], mixRate: [], cpu: [] }]))
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < MODES.length; k++) {
        const mode = MODES[(k + run + round) % MODES.length]
        await useAll(clients, mode)
        const before = cpuOf(pids[mode])
        const rate = await loadTogether(clients, { op: 'incr', inflight: INFLIGHT, ...window })
        const after = cpuOf(pids[mode])
        rates[mode].rate.push(rate)
        // The host's CPU per incr over the whole window (its warm-up included), in µs.
        if (before !== undefined && after !== undefined) {
          const calls = rate * (window.warmupMs + window.durationMs) / 1000
          rates[mode].cpu.push({ main: (after.main - before.main) * 1000 / calls, all: (after.all - before.all) * 1000 / calls })
        }
        rates[mode].mixRate.push(await loadTogether(clients, { op: 'mix', inflight: INFLIGHT, ...mixWindow }))
      }
    }
    const result = {}
    for (const mode of MODES) {
      const cpu = rates[mode].cpu
      result[mode] = {
        rate: median(rates[mode].rate),
        mixRate: median(rates[mode].mixRate),
        latency: latency[mode],
        cpu: cpu.length === 0 ? undefined : { main: median(cpu.map((c) => c.main)), all: median(cpu.map((c) => c.all)) }
      }
    }
    result.offered = await offeredTurns(ctx, clients, pids, run, result)
    return result
  })
}

/**
 * The host's main-thread CPU per incr under the same offered load for each of OFFERED_MODES, in
 * turns: flat out, a host that does more per call also makes its batches smaller, so its CPU per
 * call there mixes the two; at one fixed rate, below what the slowest of them serves, the
 * difference is what the mode itself costs the host's loop. Undefined without /proc.
 */
async function offeredTurns (ctx, clients, pids, run, flatOut) {
  const rate = Math.round(OFFERED_SHARE * Math.min(...OFFERED_MODES.map((mode) => flatOut[mode].rate)))
  const cpu = Object.fromEntries(OFFERED_MODES.map((mode) => [mode, []]))
  const durationMs = Math.round(1000 * ctx.scale)
  for (let round = 0; round < OFFERED_ROUNDS; round++) {
    for (let k = 0; k < OFFERED_MODES.length; k++) {
      const mode = OFFERED_MODES[(k + run + round) % OFFERED_MODES.length]
      await useAll(clients, mode)
      const before = cpuOf(pids[mode])
      const startAt = Date.now() + 50
      const offered = await Promise.all(clients.map((client) =>
        call(client, 'offer', { op: 'incr', rate: rate / clients.length, startAt, durationMs }, durationMs + 30000)))
      const after = cpuOf(pids[mode])
      if (before === undefined || after === undefined) return undefined
      const answered = offered.reduce((total, part) => total + part.answered, 0)
      cpu[mode].push((after.main - before.main) * 1000 / answered)
    }
  }
  return { rate, cpu: Object.fromEntries(OFFERED_MODES.map((mode) => [mode, median(cpu[mode])])) }
}

async function run (ctx) {
  const dir = mkdtempSync(join(os.tmpdir(), 'fastify-shared-state-bench-fsync-'))
  const filesystem = filesystemOf(realpathSync(dir))
  let measured
  try {
    measured = await repeatWithin(ctx, 150000 * ctx.scale, 'fsync modes', (i) => oneRun(ctx, dir, i))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const { results, cut } = measured
  const rates = (mode) => results.map((result) => result[mode].rate)
  const mixRates = (mode) => results.map((result) => result[mode].mixRate)
  const p50 = (mode) => results.map((result) => result[mode].latency.p50)
  const p99 = (mode) => median(results.map((result) => result[mode].latency.p99))
  const where = `logs on ${filesystem} (${os.tmpdir()})`
  const cpu = (mode) => {
    const samples = results.map((result) => result[mode].cpu).filter(Boolean)
    if (samples.length === 0) return 'n/a'
    return `${median(samples.map((c) => c.main)).toFixed(2)} µs main thread, ${median(samples.map((c) => c.all)).toFixed(1)} µs all threads`
  }
  const cpuNote = (mode) => `host CPU per incr: ${cpu(mode)}; without persist ${cpu('none')}`
  const rows = ['always', 'everysec', 'no'].map((mode) => row({
    group: GROUP,
    label: `incr x ${INFLIGHT} in flight, fsync '${mode}'`,
    unit: 'ops/s',
    samples: rates(mode),
    vs: [{ label: `no persist, incr x ${INFLIGHT} in flight`, samples: rates('none') }],
    note: mode === 'always' ? `${where}; group commit${cut ? `; ${cut}` : ''}; ${cpuNote(mode)}` : cpuNote(mode)
  }))
  for (const mode of ['always', 'everysec']) {
    rows.push(row({
      group: GROUP,
      label: `9 get : 1 incr x ${INFLIGHT} in flight, fsync '${mode}'`,
      unit: 'ops/s',
      samples: mixRates(mode),
      vs: [{ label: `no persist, 9 get : 1 incr x ${INFLIGHT} in flight`, samples: mixRates('none') }],
      note: mode === 'always' ? 'a read waits for the fsync of the changes logged before it' : undefined
    }))
  }
  const offered = results.map((result) => result.offered).filter(Boolean)
  for (const mode of ['everysec', 'no']) {
    rows.push(offered.length === 0
      ? naRow(GROUP, `host main-thread CPU per incr at a fixed offered load, fsync '${mode}'`, 'needs /proc (Linux)')
      : row({
        group: GROUP,
        label: `host main-thread CPU per incr at a fixed offered load, fsync '${mode}'`,
        unit: 'µs',
        better: 'lower',
        samples: offered.map((result) => result.cpu[mode]),
        vs: [{ label: 'no persist, same load, in turns', samples: offered.map((result) => result.cpu.none) }],
        note: mode === 'everysec'
          ? `${offered.map((result) => (result.rate / 1000).toFixed(0)).join(', ')} k incr/s offered by ${WORKERS} workers, whether answered or not ` +
            `(${OFFERED_SHARE}x the slowest of no persist, 'everysec' and 'no' flat out in the run); ${OFFERED_ROUNDS} turns of a second each`
          : undefined
      }))
  }
  rows.push(row({
    group: GROUP,
    label: "single awaited incr p50 from 1 client, fsync 'always'",
    unit: 'µs',
    better: 'lower',
    samples: p50('always'),
    vs: [{ label: 'no persist, single awaited incr p50', samples: p50('none') }],
    note: `p99 ${p99('always').toFixed(0)} µs against ${p99('none').toFixed(0)} µs without persist`
  }))
  rows.push(await journalCostRow(ctx))
  return rows
}

/** The log's own CPU per incr, in-process: an engine with a change log against one without. */
async function journalCostRow (ctx) {
  const logged = []
  const none = []
  for (let i = 0; i < ctx.runs; i++) {
    const measured = await scope(async (start) => {
      const worker = await start(JOURNAL_COST, { name: 'journal cost' })
      return call(worker, 'measure', { calls: Math.round(500000 * ctx.scale), rounds: 7 }, 120000)
    })
    logged.push(measured.logged)
    none.push(measured.none)
  }
  return row({
    group: GROUP,
    label: "CPU per incr in-process, host engine with a change log (fsync 'no')",
    unit: 'µs',
    better: 'lower',
    samples: logged,
    vs: [{ label: 'host engine without persist, same process, in turns', samples: none }],
    note: `the log's own cost: ${(median(logged) - median(none)).toFixed(2)} µs per incr (no socket, 4 client ids, 7 turns each)`
  })
}

// Three runs of about a minute each (the flat-out turns, then the fixed-load ones) and the
// in-process row: past the suite's usual limit of a scenario.
module.exports = { name: 'fsync', run, limitMs: 240000 }
