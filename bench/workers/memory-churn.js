'use strict'

// The host's heap per thing that comes and goes: a worker that made one set and died (while its
// replies are kept for its retries, and after the grace period), a lock wait (while it waits, and
// after it timed out with the lock still held), a lock name (after its release). Run with
// --expose-gc; the host is this process, the dead workers are raw connections to it.

const { connect } = require('node:net')
const { setTimeout: sleep } = require('node:timers/promises')
const { encode, decode } = require('@msgpack/msgpack')
const { clientView } = require('../../dist/connection-view')
const { ClientHandshake } = require('../../dist/protocol/auth')
const { FrameDecoder, HEADER_BYTES } = require('../../dist/protocol/framing')
const { opCode } = require('../../dist/protocol/messages')
const { openShared, BENCH_KEY } = require('../lib/plugin-app')
const { main, serve } = require('../lib/worker-ipc')

// The plugin's call timeout here: a dead worker's replies go three of these after it did.
const TIMEOUT = 1000

function heap () {
  for (let i = 0; i < 3; i++) global.gc()
  return process.memoryUsage().heapUsed
}

function frame (message) {
  const body = encode(message)
  const header = Buffer.alloc(HEADER_BYTES)
  header.writeUInt32BE(body.length)
  return Buffer.concat([header, body])
}

/** Connects as client `clientId`, makes one set, and drops the connection without a goodbye. */
function deadWorker (port, clientId) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const frames = new FrameDecoder(Number.MAX_SAFE_INTEGER)
    const handshake = new ClientHandshake(Buffer.from(BENCH_KEY), clientId, { pid: process.pid })
    let step = 0
    socket.on('error', reject)
    socket.on('data', (chunk) => {
      for (const body of frames.push(chunk)) {
        const message = decode(body)
        if (step === 0) socket.write(frame(handshake.respond(message, clientView(socket, undefined))))
        else if (step === 1) {
          handshake.verify(message)
          socket.write(frame([1, opCode('set'), 'dead', Buffer.from([1]), 0]))
        } else {
          socket.destroy()
          resolve()
        }
        step++
      }
    })
  })
}

main(async () => {
  if (typeof global.gc !== 'function') throw new Error('run with --expose-gc')
  const port = Number(process.env.BENCH_SHARED_PORT)
  const app = await openShared({ port, timeout: TIMEOUT })
  if (app.shared.role !== 'host') throw new Error('expected to host')
  serve({
    deadClients: async ({ count }) => {
      // A first round warms up what is paid once (code, caches), so the baseline excludes it.
      for (let i = 0; i < 200; i++) await deadWorker(port, `warm-${i}`)
      await sleep(3 * TIMEOUT + 500)
      const before = heap()
      for (let i = 0; i < count; i++) await deadWorker(port, `dead-${i}`)
      const kept = heap() - before
      await sleep(3 * TIMEOUT + 500)
      return { keptPerClient: kept / count, afterGracePerClient: (heap() - before) / count }
    },
    waiters: async ({ count }) => {
      const holder = await app.shared.lock('crowded').acquire()
      const before = heap()
      // The callers' promises live in this process too: counted while waiting, dropped after.
      let waits = Array.from({ length: count }, () => app.shared.lock('crowded').acquire({ timeout: 2000 }).catch(() => null))
      await sleep(200)
      const waiting = heap() - before
      await Promise.all(waits)
      waits = undefined
      const after = heap() - before
      await holder.release()
      return { waitingPerWaiter: waiting / count, timedOutPerWaiter: after / count }
    },
    lockNames: async ({ count }) => {
      const before = heap()
      for (let start = 0; start < count; start += 1000) {
        await Promise.all(Array.from({ length: Math.min(1000, count - start) }, (_, i) =>
          app.shared.lock(`order:${start + i}`).withLock(() => null)))
      }
      return { perName: (heap() - before) / count }
    }
  })
})
