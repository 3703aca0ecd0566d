'use strict'

// Watches a process's own event loop for a window and tells apart what stalled it: the longest
// delay a user would see (monitorEventLoopDelay, 1 ms resolution), the longest garbage collection
// pause in the window (V8's own 'gc' performance entries), the longest gap between two turns of
// a 1 ms timer once the collections inside it are taken out, and the longest once the time the
// main thread waited for a CPU (/proc/thread-self/schedstat, where there is one: the kernel ran
// other processes, or this one's other threads) is taken out too, and no longer than the CPU time
// the whole process used in it: the longest slice of the process's own work on its main thread.
// On a VM the guest can lose time it never sees as waiting: a gap of 17 ms in which the process
// used 0.1 ms of CPU (a wake-up come late) was no work of its own. Where the VM reports no steal
// time, time taken from a running vCPU is charged to the running task as its CPU time, so even
// this bound can be many times the work: only sampling (`perf`) tells that apart.

const { readFileSync } = require('node:fs')
const { constants, monitorEventLoopDelay, performance, PerformanceObserver } = require('node:perf_hooks')

const TICK_MS = 1
const GC_KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental marking',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks'
}
// Gaps shorter than this (past the tick) are not kept: nothing of interest is that short.
const GAP_KEPT_MS = 1.5
// A bound on the gaps kept, so a window of any length holds a bounded list.
const GAPS_KEPT = 100000

/**
 * The main thread's time so far waiting for a CPU (runnable, the CPUs busy with other threads),
 * in ms, or undefined where /proc does not tell. (Its time on a CPU, the first field, is only
 * brought up to date at the kernel's ticks, too coarse for a gap of a few milliseconds; the wait
 * is added when the thread gets a CPU, so it is exact at each read.)
 */
function threadWaitMs () {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[1]) / 1e6
  } catch {
    return undefined
  }
}

/**
 * CPU time the whole process has used so far, all its threads (getrusage, exact to the µs on
 * Linux, where the main thread's own figure in /proc is brought up to date only at ticks), in ms.
 */
function cpuMs () {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

/** The ms of `gcs` (performance entries) that fall between `start` and `end`. */
function collectedWithin (gcs, start, end) {
  let ms = 0
  for (const gc of gcs) ms += Math.max(0, Math.min(end, gc.startTime + gc.duration) - Math.max(start, gc.startTime))
  return ms
}

class LoopWatch {
  #delay = monitorEventLoopDelay({ resolution: 1 })
  #gcs = []
  #gaps = []
  #observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) this.#record(entry)
  })

  #timer
  #last = 0
  #lastWait
  #lastCpu = 0

  start () {
    this.#observer.observe({ entryTypes: ['gc'] })
    this.#delay.enable()
    this.#last = performance.now()
    this.#lastWait = threadWaitMs()
    this.#lastCpu = cpuMs()
    const tick = () => {
      const now = performance.now()
      const waited = threadWaitMs()
      const cpu = cpuMs()
      this.#keep({ start: this.#last, end: now, waitMs: waited === undefined ? undefined : waited - this.#lastWait, cpuMs: cpu - this.#lastCpu })
      this.#last = performance.now()
      this.#lastWait = waited === undefined ? undefined : threadWaitMs()
      this.#lastCpu = cpuMs()
      this.#timer = setTimeout(tick, TICK_MS)
    }
    this.#timer = setTimeout(tick, TICK_MS)
    return this
  }

  /**
   * Ends the window: `maxDelayMs` (the longest delay, what a user sees), `maxGcMs` (the longest
   * collection), `maxWithoutGcMs` (the longest gap once the collections inside it are taken out)
   * and `maxOwnMs` (the longest gap once the time the main thread waited for a CPU is taken out
   * too, where /proc tells the wait, and at most the CPU time the process used in it: the
   * process's own work).
   */
  stop () {
    clearTimeout(this.#timer)
    this.#delay.disable()
    // Entries of the last collections reach the observer a turn late; take them now.
    for (const entry of this.#observer.takeRecords?.() ?? []) this.#record(entry)
    this.#observer.disconnect()
    let withoutGc = 0
    let own
    for (const gap of this.#gaps) {
      const wallMs = gap.end - gap.start - TICK_MS
      const gcMs = collectedWithin(this.#gcs, gap.start, gap.end)
      withoutGc = Math.max(withoutGc, wallMs - gcMs)
      const ownMs = Math.max(0, Math.min(wallMs - gcMs - (gap.waitMs ?? 0), gap.cpuMs))
      if (own === undefined || ownMs > own.ownMs) own = { wallMs, gcMs, waitMs: gap.waitMs, cpuMs: gap.cpuMs, ownMs }
    }
    const longestGc = this.#gcs.reduce((max, gc) => (max === undefined || gc.duration > max.duration ? gc : max), undefined)
    return {
      maxDelayMs: this.#delay.max / 1e6,
      p99DelayMs: this.#delay.percentile(99) / 1e6,
      maxGcMs: longestGc?.duration ?? 0,
      maxGcKind: GC_KINDS[longestGc?.kind] ?? 'none',
      gcCount: this.#gcs.length,
      maxWithoutGcMs: withoutGc,
      maxOwnMs: own?.ownMs ?? 0,
      ownGap: own
    }
  }

  #record (entry) {
    this.#gcs.push({ startTime: entry.startTime, duration: entry.duration, kind: entry.detail?.kind ?? entry.kind })
  }

  #keep (gap) {
    if (gap.end - gap.start - TICK_MS >= GAP_KEPT_MS && this.#gaps.length < GAPS_KEPT) this.#gaps.push(gap)
  }
}

module.exports = { LoopWatch }
