'use strict'

// The floor's server: raw Node TCP with the plugin's framing (4-byte big-endian length + payload);
// on a unix socket instead when BENCH_ECHO_PATH is set.
// Each request frame gets a reply frame of BENCH_REPLY_BYTES; the replies to one chunk leave in
// one write, as the plugin's host batches a tick's replies.

const { createServer } = require('node:net')
const { main, serve } = require('../lib/worker-ipc')

const HEADER = 4

function replyFrame (bytes) {
  const frame = Buffer.alloc(HEADER + bytes, 0x61)
  frame.writeUInt32BE(bytes, 0)
  return frame
}

function onConnection (socket, reply) {
  socket.setNoDelay(true)
  let pending = Buffer.alloc(0)
  socket.on('data', (chunk) => {
    let data = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    let frames = 0
    while (data.length >= HEADER && data.length >= HEADER + data.readUInt32BE(0)) {
      data = data.subarray(HEADER + data.readUInt32BE(0))
      frames++
    }
    pending = data
    if (frames === 1) socket.write(reply)
    else if (frames > 1) socket.write(Buffer.concat(Array(frames).fill(reply)))
  })
  socket.on('error', () => {})
}

main(async () => {
  const reply = replyFrame(Number(process.env.BENCH_REPLY_BYTES))
  const server = createServer((socket) => onConnection(socket, reply))
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    // A leading '@' names an abstract socket (an environment variable cannot hold its NUL byte).
    const path = process.env.BENCH_ECHO_PATH?.replace(/^@/, '\0')
    server.listen(path ? { path } : { host: '127.0.0.1', port: Number(process.env.BENCH_ECHO_PORT) }, resolve)
  })
  serve({ close: () => new Promise((resolve) => server.close(resolve)) })
})
