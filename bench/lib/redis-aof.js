'use strict'

// Redis' own persistence, as the baseline of the recover scenario. `measureAofReload`: a private
// redis-server with appendonly (RDB preamble, appendfsync everysec) in a temporary directory
// fills `keys` keys `key:<i>` -> `<i>`, rewrites its AOF, takes `tailWrites` more writes (the first
// keys again), shuts down, and is started again on the same directory; the time from its start
// until it answers PING (not LOADING) is its reload. `measureAofThroughput`: redis-benchmark INCR
// without AOF and under each appendfsync policy.

const { spawn } = require('node:child_process')
const { mkdtempSync, readdirSync, rmSync, statSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { join } = require('node:path')
const { setTimeout: sleep } = require('node:timers/promises')
const { freePort, startProgram, stop, waitForOutput } = require('./processes')

function redisCli (port, args, input) {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', ['-p', String(port), ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (chunk) => { out += chunk })
    child.stderr.on('data', (chunk) => { out += chunk })
    child.on('error', reject)
    child.on('exit', (code) => code === 0 ? resolve(out.trim()) : reject(new Error(`redis-cli ${args.join(' ')}: ${out}`)))
    if (input !== undefined) child.stdin.end(input)
    else child.stdin.end()
  })
}

/** SET key:<i> <i> for i in [from, to), as the RESP redis-cli --pipe sends. */
function setCommands (from, to) {
  const chunks = []
  for (let i = from; i < to; i++) {
    const key = `key:${i}`
    const value = String(i)
    chunks.push(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value.length}\r\n${value}\r\n`)
  }
  return chunks.join('')
}

async function info (port, field) {
  const text = await redisCli(port, ['info', 'persistence'])
  const line = text.split('\n').find((l) => l.startsWith(`${field}:`))
  return line === undefined ? undefined : line.slice(field.length + 1).trim()
}

function startServer (port, dir) {
  const child = startProgram('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes',
    '--appendfsync', 'everysec', '--dir', dir, '--daemonize', 'no', '--logfile', ''
  ], { name: `redis-server aof :${port}` })
  return child
}

function bytesUnder (dir) {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    total += entry.isDirectory() ? bytesUnder(path) : statSync(path).size
  }
  return total
}

/** { reloadMs, aofBytes }: Redis' AOF reload of `keys` keys plus `tailWrites` logged writes. */
async function measureAofReload ({ keys, tailWrites }) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-aof-'))
  try {
    const port = await freePort()
    let server = startServer(port, dir)
    await waitForOutput(server, 'Ready to accept connections', 10000)
    const batch = 200000
    for (let from = 0; from < keys; from += batch) await redisCli(port, ['--pipe'], setCommands(from, Math.min(keys, from + batch)))
    await redisCli(port, ['bgrewriteaof'])
    do await sleep(50)
    while (await info(port, 'aof_rewrite_in_progress') !== '0' || await info(port, 'aof_rewrite_scheduled') !== '0')
    await redisCli(port, ['--pipe'], setCommands(0, tailWrites))
    await redisCli(port, ['shutdown']).catch(() => {})
    await stop(server, { graceMs: 10000 })
    const aofBytes = bytesUnder(dir)
    const started = process.hrtime.bigint()
    server = startServer(port, dir)
    for (;;) {
      const answer = await redisCli(port, ['ping']).catch(() => '')
      if (answer === 'PONG') break
      await sleep(2)
    }
    const reloadMs = Number(process.hrtime.bigint() - started) / 1e6
    const size = Number(await redisCli(port, ['dbsize']))
    if (size !== keys) throw new Error(`redis reloaded ${size} keys, expected ${keys}`)
    await stop(server)
    return { reloadMs, aofBytes }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** INCR requests per second from redis-benchmark (`clients` connections), per AOF setting. */
async function measureAofThroughput ({ requests, clients, modes }) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-aof-'))
  try {
    const port = await freePort()
    const server = startServer(port, dir)
    await waitForOutput(server, 'Ready to accept connections', 10000)
    const rates = {}
    for (const mode of modes) {
      if (mode === 'none') await redisCli(port, ['config', 'set', 'appendonly', 'no'])
      else {
        await redisCli(port, ['config', 'set', 'appendonly', 'yes'])
        await redisCli(port, ['config', 'set', 'appendfsync', mode])
      }
      const out = await new Promise((resolve, reject) => {
        const child = spawn('redis-benchmark', ['-p', String(port), '-t', 'incr', '-n', String(requests), '-c', String(clients), '-q'])
        let text = ''
        child.stdout.on('data', (chunk) => { text += chunk })
        child.on('error', reject)
        child.on('exit', (code) => code === 0 ? resolve(text) : reject(new Error(`redis-benchmark exited ${code}`)))
      })
      const match = /INCR: ([\d.]+) requests per second/.exec(out.replace(/\r/g, '\n'))
      if (match === null) throw new Error(`no INCR rate in redis-benchmark output: ${out}`)
      rates[mode] = Number(match[1])
    }
    await stop(server)
    return rates
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

module.exports = { measureAofReload, measureAofThroughput }
