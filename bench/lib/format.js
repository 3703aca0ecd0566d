'use strict'

// How numbers read in the table: throughputs with k/M, times in µs or ms, sizes in MB.

function fixed (value, digits) {
  return Number.isFinite(value) ? value.toFixed(digits) : '-'
}

function rate (value) {
  if (!Number.isFinite(value)) return '-'
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`
  return value.toFixed(0)
}

function number (value, unit) {
  switch (unit) {
    case 'ops/s':
    case 'req/s':
      return rate(value)
    case 'µs':
      return fixed(value, value < 100 ? 1 : 0)
    case 'ms':
      return fixed(value, value < 10 ? 2 : 1)
    case 'MB':
      return fixed(value, 1)
    default:
      return fixed(value, 0)
  }
}

function ratio (value) {
  if (!Number.isFinite(value)) return '-'
  return `${value.toFixed(value < 10 ? 2 : 1)}x`
}

function range (summary, unit) {
  return `${number(summary.min, unit)}..${number(summary.max, unit)}`
}

module.exports = { number, ratio, range }
