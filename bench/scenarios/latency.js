'use strict'

// Single awaited get / set / incr from a client worker (its own process) of a host in another
// process, against raw Node TCP ping-pong of the same frame sizes: the floor for one round trip.
// Each pair is pinned to the same CPUs as the floor's (see lib/placement.js), in each placement.

const { join } = require('node:path')
const { encode } = require('@msgpack/msgpack')
const { placements, pin } = require('../lib/placement')
const { call, freePort, scope } = require('../lib/processes')
const { row } = require('../lib/rows')
const { TARGETS } = require('../lib/targets')

const OPS = ['get', 'set', 'incr']
const WORKERS = join(__dirname, '..', 'workers')
const BASELINES = join(__dirname, '..', 'baselines')
const BLOCK_CALLS = 500

/**
 * The largest request and reply the plugin frames for these calls: [id, op, key, ...args] and
 * [id, status, result]. Op codes are MessagePack fixints, so their exact values do not change
 * the size; ids are uint32s after the warm-up.
 */
function frameSizes () {
  const id = 100000
  const value = encode(12345)
  const requests = [
    encode([id, 1, 'bench:latency']),
    encode([id, 2, 'bench:latency', value, 0]),
    encode([id, 10, 'bench:latency:n', 1])
  ]
  const replies = [encode([id, 0, value]), encode([id, 0, null]), encode([id, 0, id])]
  return {
    request: Math.max(...requests.map((frame) => frame.length)),
    reply: Math.max(...replies.map((frame) => frame.length))
  }
}

async function oneRun (ctx, sizes, placement) {
  const env = {
    BENCH_SHARED_PORT: String(await freePort()),
    BENCH_ECHO_PORT: String(await freePort()),
    BENCH_REQUEST_BYTES: String(sizes.request),
    BENCH_REPLY_BYTES: String(sizes.reply)
  }
  return scope(async (start) => {
    const place = (child, cpu) => {
      if (cpu !== undefined) pin(child, cpu)
      return child
    }
    place(await start(join(WORKERS, 'host.js'), { env, name: 'latency host' }), placement.server)
    const plugin = place(await start(join(WORKERS, 'latency-client.js'), { env, name: 'latency client' }), placement.client)
    place(await start(join(BASELINES, 'tcp-echo-server.js'), { env, name: 'tcp echo server' }), placement.server)
    const floor = place(await start(join(BASELINES, 'tcp-pingpong-client.js'), { env, name: 'tcp ping-pong client' }), placement.client)
    // The plugin's workers reach a loopback host over a unix socket (lib/local-socket.ts): that
    // transport's own floor, for context.
    const unixEnv = { ...env, BENCH_ECHO_PATH: `@fastify-shared-state-bench-echo:${env.BENCH_ECHO_PORT}` }
    place(await start(join(BASELINES, 'tcp-echo-server.js'), { env: unixEnv, name: 'unix echo server' }), placement.server)
    const unixFloor = place(await start(join(BASELINES, 'tcp-pingpong-client.js'), { env: unixEnv, name: 'unix ping-pong client' }), placement.client)
    // Blocks alternate between the plugin and the floors, so a burst of outside load hits all.
    const blocks = Math.max(2, Math.round(10 * ctx.scale))
    for (let i = -4; i < blocks; i++) {
      const record = i >= 0
      await call(plugin, 'block', { calls: BLOCK_CALLS, record }, 60000)
      await call(floor, 'block', { calls: BLOCK_CALLS, record }, 60000)
      await call(unixFloor, 'block', { calls: BLOCK_CALLS, record }, 60000)
    }
    return { plugin: await call(plugin, 'report'), floor: await call(floor, 'report'), unixFloor: await call(unixFloor, 'report') }
  })
}

function rowsOf (placement, sizes, plugin, floor, unixFloor) {
  const frames = `(${sizes.request}+${sizes.reply} B frames)`
  return OPS.flatMap((op) => ['p50', 'p99'].map((stat) => row({
    group: `Single awaited call from a client worker (1 in flight), ${placement.label}`,
    label: `${op} ${stat}`,
    unit: 'µs',
    better: 'lower',
    samples: plugin[op][stat],
    vs: [
      { label: `raw TCP ping-pong ${frames} ${stat}`, samples: floor[stat], target: stat === 'p50' ? TARGETS.latency : undefined },
      { label: `raw unix-socket ping-pong ${stat}`, samples: unixFloor[stat] }
    ]
  })))
}

async function run (ctx) {
  const sizes = frameSizes()
  const rows = []
  for (const placement of placements()) {
    const plugin = Object.fromEntries(OPS.map((op) => [op, { p50: [], p99: [] }]))
    const floor = { p50: [], p99: [] }
    const unixFloor = { p50: [], p99: [] }
    for (let i = 0; i < ctx.runs; i++) {
      ctx.log(`latency run ${i + 1}/${ctx.runs}, ${placement.label}`)
      const measured = await oneRun(ctx, sizes, placement)
      for (const op of OPS) {
        plugin[op].p50.push(measured.plugin[op].p50)
        plugin[op].p99.push(measured.plugin[op].p99)
      }
      floor.p50.push(measured.floor.p50)
      floor.p99.push(measured.floor.p99)
      unixFloor.p50.push(measured.unixFloor.p50)
      unixFloor.p99.push(measured.unixFloor.p99)
    }
    rows.push(...rowsOf(placement, sizes, plugin, floor, unixFloor))
  }
  return rows
}

module.exports = { name: 'latency', run }
