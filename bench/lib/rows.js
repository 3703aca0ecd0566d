'use strict'

// A row of the report: per-run samples of one measurement, compared with one or more baselines
// measured in the same run. Ratios are of medians: value / baseline.

const { summarize } = require('./stats')

/**
 * `vs`: [{ label, samples, target? }] or [{ label, na: 'why' }].
 * `better`: 'higher' (throughput) or 'lower' (latency, memory, stalls).
 */
function row ({ group, label, unit, better = 'higher', samples, vs = [], note, na }) {
  const summary = summarize(samples ?? [])
  const comparisons = vs.map((baseline) => {
    if (baseline.na) return { label: baseline.label, na: baseline.na, target: baseline.target }
    const base = summarize(baseline.samples)
    return {
      label: baseline.label,
      summary: base,
      samples: baseline.samples,
      ratio: summary.median / base.median,
      target: baseline.target
    }
  })
  return { group, label, unit, better, samples: samples ?? [], summary, comparisons, note, na }
}

function naRow (group, label, why) {
  return row({ group, label, unit: '', na: why })
}

module.exports = { row, naRow }
