'use strict'

// Failover: a host process and 3 client processes, each client looping awaited incr with a few
// in flight; the host is SIGKILLed and the time from the kill to the first call the new host
// answers (in any client, and in every client) is measured, with the calls that failed meanwhile
// (expected none: calls wait for the new host). Fresh processes each run. No baseline: the
// plugin's connectTimeout (the election's deadline) and timeout are given as context.

const { once } = require('node:events')
const { join } = require('node:path')
const { setTimeout: sleep } = require('node:timers/promises')
const { call, freePort, scope } = require('../lib/processes')
const { repeatWithin } = require('../lib/repeat')
const { row } = require('../lib/rows')
const { median } = require('../lib/stats')

const WORKERS = join(__dirname, '..', 'workers')
const HOST = join(WORKERS, 'host.js')
const CLIENT = join(WORKERS, 'failover-client.js')
const CLIENTS = 3
const INFLIGHT = 4
// The plugin's defaults, set explicitly so the note says what was configured.
const CONNECT_TIMEOUT_MS = 3000
const CALL_TIMEOUT_MS = 30000
const GROUP = `Failover: host worker SIGKILLed under load (${CLIENTS} client workers x ${INFLIGHT} incr in flight)`

async function oneRun (ctx) {
  const env = { BENCH_SHARED_PORT: String(await freePort()), BENCH_CONNECT_TIMEOUT: String(CONNECT_TIMEOUT_MS) }
  return scope(async (start) => {
    const host = await start(HOST, { env, name: 'failover host' })
    const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) =>
      start(CLIENT, { env, name: `failover client ${i + 1}` })))
    await Promise.all(clients.map((client) => call(client, 'start', { inflight: INFLIGHT })))
    // Load first, so the kill lands on busy connections and warm code.
    await sleep(Math.round(500 * ctx.scale))
    const exited = once(host, 'exit')
    const killedAt = process.hrtime.bigint()
    process.kill(host.pid, 'SIGKILL')
    await exited
    const waitMs = CONNECT_TIMEOUT_MS + 2000
    const tailMs = Math.round(300 * ctx.scale)
    const reports = await Promise.all(clients.map((client) =>
      call(client, 'settle', { killedAt: String(killedAt), waitMs, tailMs }, waitMs + tailMs + CALL_TIMEOUT_MS + 5000)))
    return summarizeRun(reports)
  })
}

function summarizeRun (reports) {
  const firsts = reports.map((report) => report.firstNewMs)
  const served = firsts.filter((ms) => ms !== null)
  for (const ms of served) {
    if (ms < 0) throw new Error(`a client saw the new host ${(-ms).toFixed(1)} ms before the kill`)
  }
  const lastOld = reports.map((report) => report.lastOldMs).filter((ms) => ms !== null)
  const errors = {}
  for (const report of reports) {
    for (const [code, n] of Object.entries(report.errors)) errors[code] = (errors[code] ?? 0) + n
  }
  return {
    anyMs: served.length > 0 ? Math.min(...served) : NaN,
    allMs: served.length === reports.length ? Math.max(...served) : NaN,
    unserved: reports.length - served.length,
    failed: reports.reduce((total, report) => total + report.failed, 0),
    errors,
    // The old host's replies read after the kill (sent before it died): what the MARK tells apart.
    lastOldMs: lastOld.length > 0 ? Math.max(...lastOld) : NaN,
    hosts: reports.filter((report) => report.role === 'host').length,
    calls: reports.reduce((total, report) => total + report.ok, 0)
  }
}

async function run (ctx) {
  const { results, cut } = await repeatWithin(ctx, 20000 * ctx.scale, 'failover', () => oneRun(ctx))
  const unserved = results.reduce((total, result) => total + result.unserved, 0)
  const twoHosts = results.filter((result) => result.hosts !== 1).length
  const errors = {}
  for (const result of results) {
    for (const [code, n] of Object.entries(result.errors)) errors[code] = (errors[code] ?? 0) + n
  }
  const context = `for context: connectTimeout ${CONNECT_TIMEOUT_MS} ms, timeout ${CALL_TIMEOUT_MS} ms`
  const trouble = [
    unserved > 0 ? `${unserved} client(s) got no answer from a new host within ${CONNECT_TIMEOUT_MS + 2000} ms` : '',
    twoHosts > 0 ? `${twoHosts} run(s) did not end with exactly one client hosting` : '',
    cut ?? ''
  ].filter(Boolean).join('; ')
  const lastOld = median(results.map((result) => result.lastOldMs).filter(Number.isFinite))
  return [
    row({
      group: GROUP,
      label: 'SIGKILL -> first call answered by the new host (any client)',
      unit: 'ms',
      better: 'lower',
      samples: results.map((result) => result.anyMs),
      note: `${context}; the old host's last reply was read ${Number.isFinite(lastOld) ? lastOld.toFixed(2) : '-'} ms ` +
        'after the kill (sent before it, not counted)' + (trouble ? `; ${trouble}` : '')
    }),
    row({
      group: GROUP,
      label: `SIGKILL -> all ${CLIENTS} clients answered by the new host`,
      unit: 'ms',
      better: 'lower',
      samples: results.map((result) => result.allMs)
    }),
    row({
      group: GROUP,
      label: 'calls failed across the failover (all clients, expected 0)',
      unit: 'calls',
      better: 'lower',
      samples: results.map((result) => result.failed),
      note: `of ${median(results.map((result) => result.calls)).toFixed(0)} calls per run` +
        (Object.keys(errors).length > 0 ? `; ${Object.entries(errors).map(([code, n]) => `${code} x ${n}`).join(', ')}` : '')
    })
  ]
}

module.exports = { name: 'failover', run }
