'use strict'

// Small statistics over plain arrays of numbers. Medians over runs are what the table prints;
// percentiles are for per-call latencies inside one run.

function sorted (values) {
  return Float64Array.from(values).sort()
}

/** Nearest-rank percentile, `p` in 0..100, of an already sorted array. */
function percentileOfSorted (ordered, p) {
  if (ordered.length === 0) return NaN
  const rank = Math.ceil((p / 100) * ordered.length)
  return ordered[Math.min(ordered.length - 1, Math.max(0, rank - 1))]
}

function percentile (values, p) {
  return percentileOfSorted(sorted(values), p)
}

function median (values) {
  const ordered = sorted(values)
  const n = ordered.length
  if (n === 0) return NaN
  const middle = n >> 1
  return n % 2 === 1 ? ordered[middle] : (ordered[middle - 1] + ordered[middle]) / 2
}

/** `{ median, min, max, runs }` of the per-run values; an empty list summarises to NaNs. */
function summarize (values) {
  const finite = values.filter(Number.isFinite)
  if (finite.length === 0) return { median: NaN, min: NaN, max: NaN, runs: 0 }
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite), runs: finite.length }
}

module.exports = { median, percentile, percentileOfSorted, sorted, summarize }
