'use strict'

// The floor's client: one request frame out, wait for the whole reply frame, repeat. Over a unix
// socket when BENCH_ECHO_PATH is set.

const { connect } = require('node:net')
const { main, serve } = require('../lib/worker-ipc')
const { LatencyRecorder } = require('../workers/timing')

const HEADER = 4

function open () {
  const path = process.env.BENCH_ECHO_PATH?.replace(/^@/, '\0')
  return new Promise((resolve, reject) => {
    const socket = path ? connect({ path }) : connect({ host: '127.0.0.1', port: Number(process.env.BENCH_ECHO_PORT), noDelay: true })
    socket.once('connect', () => resolve(socket))
    socket.once('error', reject)
  })
}

function pingPong (socket, requestBytes) {
  const request = Buffer.alloc(HEADER + requestBytes, 0x62)
  request.writeUInt32BE(requestBytes, 0)
  let pending = Buffer.alloc(0)
  let waiting
  socket.on('data', (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    if (pending.length >= HEADER && pending.length >= HEADER + pending.readUInt32BE(0)) {
      pending = pending.subarray(HEADER + pending.readUInt32BE(0))
      const resolve = waiting
      waiting = undefined
      resolve()
    }
  })
  return () => new Promise((resolve) => {
    waiting = resolve
    socket.write(request)
  })
}

main(async () => {
  const socket = await open()
  const call = pingPong(socket, Number(process.env.BENCH_REQUEST_BYTES))
  const recorder = new LatencyRecorder()
  serve({
    block: ({ calls, record }) => recorder.block(call, calls, record),
    report: () => recorder.summary(),
    close: () => socket.end()
  })
})
