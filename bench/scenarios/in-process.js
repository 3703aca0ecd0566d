'use strict'

// The host worker's own calls, which skip the socket, against a plain Map behind an awaited
// async function: what the plugin costs above the data structure in the host's process.

const { join } = require('node:path')
const { call, freePort, scope } = require('../lib/processes')
const { row } = require('../lib/rows')

const OPS = ['get', 'set', 'incr']
const WORKER = join(__dirname, '..', 'workers', 'in-process.js')

async function run (ctx) {
  const samples = Object.fromEntries(OPS.map((op) => [op, { shared: [], map: [] }]))
  for (let i = 0; i < ctx.runs; i++) {
    ctx.log(`in-process run ${i + 1}/${ctx.runs}`)
    const env = { BENCH_SHARED_PORT: String(await freePort()) }
    const measured = await scope(async (start) => {
      const worker = await start(WORKER, { env, name: 'in-process host' })
      return call(worker, 'measure', { ops: OPS, durationMs: Math.round(300 * ctx.scale) }, 60000)
    })
    for (const op of OPS) {
      samples[op].shared.push(measured[op].shared)
      samples[op].map.push(measured[op].map)
    }
  }
  return OPS.map((op) => row({
    group: 'Host worker in-process calls (1 awaited at a time)',
    label: `${op} on the host's own worker`,
    unit: 'ops/s',
    samples: samples[op].shared,
    vs: [{ label: `plain Map ${op} behind an async function`, samples: samples[op].map }]
  }))
}

module.exports = { name: 'in-process', run }
