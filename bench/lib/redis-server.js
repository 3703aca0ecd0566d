'use strict'

// A private redis-server for the run, on a free port, nothing written to disk, stopped by its pid.
// The machine's own Redis (6379) is never touched.

const { commandRuns, freePort, startProgram, waitForOutput } = require('./processes')

function redisAvailable () {
  return commandRuns('redis-server', ['--version'])
}

async function startRedis () {
  const port = await freePort()
  const child = startProgram('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--daemonize', 'no', '--logfile', ''
  ], { name: `redis-server :${port}` })
  await waitForOutput(child, 'Ready to accept connections', 10000)
  return { child, url: `redis://127.0.0.1:${port}` }
}

module.exports = { redisAvailable, startRedis }
