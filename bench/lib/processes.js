'use strict'

// Every process the benchmark starts goes through here, so each can be stopped by its pid, with
// whatever it forked itself, even when a scenario throws halfway.

const { execFileSync, fork, spawn } = require('node:child_process')
const { readFileSync } = require('node:fs')
const { basename } = require('node:path')
const { createServer } = require('node:net')
const { once } = require('node:events')

const live = new Map()

/** A TCP port on 127.0.0.1 nothing listens on right now. */
function freePort () {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function track (child, name) {
  child.benchName = name
  child.output = ''
  const keep = (chunk) => {
    // Enough to explain a failure; a chatty child must not grow the orchestrator without bound.
    child.output = (child.output + String(chunk)).slice(-16384)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  live.set(child.pid, child)
  child.once('exit', () => live.delete(child.pid))
  return child
}

let started = 0

/** `--cpu-prof` flags when BENCH_CPU_PROF names a directory: one profile per child, named after it. */
function profileFlags (name) {
  const dir = process.env.BENCH_CPU_PROF
  if (!dir) return []
  const slug = basename(name).replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '')
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${slug}.${++started}.cpuprofile`]
}

/** Forks a Node script with an IPC channel; `BENCH_CPU_PROF=dir` profiles the children. */
function startNode (file, { args = [], env = {}, name = file, execArgv = [] } = {}) {
  const profile = profileFlags(name)
  const child = fork(file, args, {
    env: { ...process.env, ...env },
    execArgv: [...execArgv, ...profile],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  return track(child, name)
}

/** True when `command args` runs and exits 0 here (a tool the suite can use, or not). */
function commandRuns (command, args) {
  try {
    execFileSync(command, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function startProgram (command, args, { env = {}, name = command, cwd } = {}) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  return track(child, name)
}

function exited (child) {
  return child.exitCode !== null || child.signalCode !== null
}

/** The pids below `pid`, read from /proc (Linux); an empty list elsewhere. */
function descendants (pid) {
  const found = []
  let tasks = []
  try {
    tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)
  } catch {
    return found
  }
  for (const child of tasks.map(Number)) found.push(child, ...descendants(child))
  return found
}

function killPid (pid, signal) {
  try {
    process.kill(pid, signal)
  } catch {}
}

/** Resolves true once `child` has exited, false after `ms`. */
function exitWithin (child, ms) {
  if (exited(child)) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}

/**
 * Stops `child` and everything it forked, politely first, then with SIGKILL after `graceMs`. A
 * worker of worker-ipc.js is asked by closing its IPC channel, so it exits normally (and writes
 * its --cpu-prof profile, which a signal would lose).
 */
async function stop (child, { signal = 'SIGTERM', graceMs = 5000 } = {}) {
  if (child === undefined) return
  const below = descendants(child.pid)
  if (child.benchWorker && child.connected) {
    child.disconnect()
    await exitWithin(child, 3000)
  }
  if (!exited(child)) {
    const gone = once(child, 'exit')
    killPid(child.pid, signal)
    const timer = setTimeout(() => killPid(child.pid, 'SIGKILL'), graceMs)
    await gone
    clearTimeout(timer)
  }
  for (const pid of below) killPid(pid, 'SIGKILL')
}

async function stopAll () {
  await Promise.all([...live.values()].map((child) => stop(child, { graceMs: 2000 })))
}

/** Last resort on exit: no waiting is possible any more, so SIGKILL by pid. */
function killAllNow () {
  for (const child of live.values()) {
    for (const pid of descendants(child.pid)) killPid(pid, 'SIGKILL')
    killPid(child.pid, 'SIGKILL')
  }
}

function failure (child, what) {
  const tail = child.output.trim().split('\n').slice(-8).join('\n')
  return new Error(`${child.benchName}: ${what}${tail ? `\n${tail}` : ''}`)
}

/** Resolves with the first IPC message for which `accept` holds; rejects on exit or timeout. */
function waitForMessage (child, accept, timeoutMs, what = 'a message') {
  return new Promise((resolve, reject) => {
    const done = (error, value) => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
      if (error) reject(error)
      else resolve(value)
    }
    const onMessage = (message) => {
      if (message?.error) done(failure(child, message.error))
      else if (accept(message)) done(undefined, message)
    }
    const onExit = (code, signal) => done(failure(child, `exited (${signal || code}) before ${what}`))
    const timer = setTimeout(() => done(failure(child, `no ${what} within ${timeoutMs} ms`)), timeoutMs)
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

/** Resolves once the child's output contains `text`; rejects on exit, timeout, or `failOn`. */
function waitForOutput (child, text, timeoutMs, failOn) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (child.output.includes(text)) done()
      else if (failOn !== undefined && child.output.includes(failOn)) done(failure(child, `printed "${failOn}"`))
    }
    const done = (error) => {
      clearTimeout(timer)
      child.stdout?.off('data', check)
      child.stderr?.off('data', check)
      child.off('exit', onExit)
      if (error) reject(error)
      else resolve()
    }
    const onExit = (code, signal) => done(failure(child, `exited (${signal || code}) before printing "${text}"`))
    const timer = setTimeout(() => done(failure(child, `did not print "${text}" within ${timeoutMs} ms`)), timeoutMs)
    child.stdout?.on('data', check)
    child.stderr?.on('data', check)
    child.once('exit', onExit)
    check()
  })
}

let nextCallId = 1

/** Sends `{ cmd, ...args }` to a worker (see worker-ipc.js) and resolves with its result. */
async function call (child, cmd, args = {}, timeoutMs = 30000) {
  const id = nextCallId++
  const reply = waitForMessage(child, (message) => message?.id === id, timeoutMs, `a reply to ${cmd}`)
  child.send({ id, cmd, ...args })
  return (await reply).result
}

module.exports = {
  commandRuns, freePort, startNode, startProgram, stop, stopAll, killAllNow, waitForMessage, waitForOutput, call
}

/**
 * Runs `fn(start)` where `start(file, options)` forks a worker and waits for its `ready`; every
 * process started so is stopped when `fn` ends, however it ends.
 */
async function scope (fn) {
  const children = []
  const start = async (file, options = {}) => {
    const child = startNode(file, options)
    children.push(child)
    await waitForMessage(child, (message) => message?.ready, options.readyMs ?? 20000, 'ready')
    child.benchWorker = true
    return child
  }
  const startRaw = (file, options) => {
    const child = startNode(file, options)
    children.push(child)
    return child
  }
  try {
    return await fn(start, startRaw)
  } finally {
    for (const child of children.reverse()) await stop(child)
  }
}

module.exports.scope = scope
