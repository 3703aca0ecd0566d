'use strict'

// Per-call latency and time-boxed loops, shared by the worker programs.

const { percentileOfSorted } = require('../lib/stats')

/** Per-call latencies in µs, kept until summarised, so many short blocks make one distribution. */
class LatencyRecorder {
  #samples = []

  /** Times `calls` awaited calls of `fn`, one at a time. */
  async block (fn, calls, record = true) {
    for (let i = 0; i < calls; i++) {
      const start = process.hrtime.bigint()
      await fn(i)
      if (record) this.#samples.push(Number(process.hrtime.bigint() - start) / 1000)
    }
  }

  summary () {
    const ordered = Float64Array.from(this.#samples).sort()
    this.#samples = []
    return { p50: percentileOfSorted(ordered, 50), p99: percentileOfSorted(ordered, 99), calls: ordered.length }
  }
}

/** Calls `fn` awaited in a loop for `durationMs`; resolves with calls per second. */
async function awaitedRate (fn, durationMs) {
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(Math.round(durationMs)) * 1000000n
  let n = 0
  let now = start
  while (now < deadline) {
    // Reading the clock costs as much as a Map lookup; check it every 256 calls.
    for (let i = 0; i < 256; i++) await fn(n++)
    now = process.hrtime.bigint()
  }
  return n / (Number(now - start) / 1e9)
}

/**
 * `inflight` loops each awaiting `fn` back to back, from wall-clock `startAt` (so the workers of a
 * scenario load the target together), counting the calls completed in the window that follows
 * `warmupMs`. Resolves once every loop has drained.
 */
async function loadWindow (fn, { inflight, startAt, warmupMs, durationMs }) {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())))
  const state = { stop: false, measuring: false, count: 0 }
  const loop = async () => {
    while (!state.stop) {
      await fn()
      if (state.measuring) state.count++
    }
  }
  const loops = Array.from({ length: inflight }, loop)
  await new Promise((resolve) => setTimeout(resolve, warmupMs))
  state.measuring = true
  const from = process.hrtime.bigint()
  await new Promise((resolve) => setTimeout(resolve, durationMs))
  state.measuring = false
  const seconds = Number(process.hrtime.bigint() - from) / 1e9
  state.stop = true
  await Promise.all(loops)
  return { ops: state.count, seconds, rate: state.count / seconds }
}

// Calls of an offered load start on a timer of this period, as many as are due.
const OFFER_TICK_MS = 1

/**
 * Calls `fn` at `rate` per second, whether or not earlier calls were answered (an open loop: the
 * load does not slow down with its target), from wall-clock `startAt` for `durationMs`; resolves,
 * once every call has settled, with how many were made and how many answered.
 */
async function offeredLoad (fn, { rate, startAt, durationMs }) {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())))
  const calls = []
  let answered = 0
  const count = () => { answered++ }
  const started = performance.now()
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const elapsed = Math.min(performance.now() - started, durationMs)
      for (let due = Math.floor(elapsed * rate / 1000) - calls.length; due > 0; due--) calls.push(fn().then(count))
      if (elapsed >= durationMs) {
        clearInterval(timer)
        resolve()
      }
    }, OFFER_TICK_MS)
  })
  await Promise.all(calls)
  return { sent: calls.length, answered }
}

module.exports = { LatencyRecorder, awaitedRate, loadWindow, offeredLoad }
