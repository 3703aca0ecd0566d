'use strict'

// Where the scheduler puts two processes that ping-pong decides their round trip more than any
// code on either side. On a 2-vCPU VM, a Node echo pair that settles on one CPU answers in ~18 µs;
// the same pair on two CPUs waits for the other vCPU to wake, ~57 µs. The kernel drifts between
// the two states at random (a pair can hold either for seconds), so an unpinned floor and an
// unpinned plugin measured a few seconds apart can be 3x apart for no reason in the code. The
// latency scenario therefore pins each pair with taskset, the same way for the floor and for the
// plugin, and reports each placement.

const { execFileSync } = require('node:child_process')
const os = require('node:os')
const { commandRuns } = require('./processes')

/** True when `taskset` can pin processes here (Linux with util-linux) and there are 2+ CPUs. */
function canPin () {
  return os.cpus().length >= 2 && commandRuns('taskset', ['-p', String(process.pid)])
}

/** Pins every thread of `child` (and of what it forked) to CPU `cpu`. */
function pin (child, cpu) {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(child.pid)], { stdio: 'ignore' })
}

/**
 * The placements the latency scenario measures: server and client on separate CPUs (what the
 * issue's reference floor of 58 µs is), and on one CPU; or, where nothing can be pinned, one
 * placement left to the OS.
 */
function placements () {
  if (!canPin()) return [{ id: 'os', label: 'placed by the OS (taskset not available)', server: undefined, client: undefined }]
  return [
    { id: 'apart', label: 'server and client pinned to separate CPUs', server: 0, client: 1 },
    { id: 'together', label: 'server and client pinned to one CPU', server: 0, client: 0 }
  ]
}

module.exports = { placements, pin }
