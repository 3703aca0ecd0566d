'use strict'

// The printed table, the targets of issue 6 next to what this run measured, and results.json.

const format = require('./format')
const { render } = require('./table')
const { REFERENCES, TARGETS, judge } = require('./targets')

const HEADERS = ['measurement', 'median', 'min..max', 'unit', 'vs baseline (same run)', 'baseline', 'ratio', 'target']

function targetCell (comparison) {
  if (!comparison.target) return ''
  return `${comparison.target.op} ${comparison.target.ratio}x: ${judge(comparison.target, comparison.ratio)}`
}

function comparisonCells (row, comparison) {
  if (comparison.na) return [`${comparison.label}: ${comparison.na}`, '', '', targetCell({ ...comparison, ratio: NaN })]
  return [
    comparison.label,
    format.number(comparison.summary.median, row.unit),
    format.ratio(comparison.ratio),
    targetCell(comparison)
  ]
}

function lines (row) {
  if (row.na) return [[`  ${row.label}`, '', '', '', row.na, '', '', '']]
  const measured = [
    `  ${row.label}`,
    format.number(row.summary.median, row.unit),
    format.range(row.summary, row.unit),
    row.unit
  ]
  const out = row.comparisons.length === 0
    ? [[...measured, '', '', '', '']]
    : row.comparisons.map((comparison, i) => [...(i === 0 ? measured : ['', '', '', '']), ...comparisonCells(row, comparison)])
  if (row.note) out.push({ text: `      (${row.note})` })
  return out
}

function table (rows) {
  const body = []
  let group
  for (const row of rows) {
    if (row.group !== group) {
      group = row.group
      body.push({ text: `${group}` })
    }
    body.push(...lines(row))
  }
  return render(HEADERS, body, { rightAligned: [1, 2, 5, 6] })
}

/** Each issue-6 target with the ratio measured for it in this run. */
function targetLines (rows) {
  const out = []
  for (const target of Object.values(TARGETS)) {
    const found = rows.flatMap((row) => row.comparisons.map((comparison) => ({ row, comparison })))
      .filter(({ comparison }) => comparison.target === target)
    if (found.length === 0) {
      out.push(`  ${target.text}: not measured in this run`)
      continue
    }
    for (const { row, comparison } of found) {
      const measured = comparison.na ? comparison.na : `${format.ratio(comparison.ratio)} (${row.label})`
      out.push(`  ${target.text}: ${measured} -> ${judge(target, comparison.ratio)}`)
    }
  }
  return out
}

function text (rows, { machine, seconds, skipped }) {
  return [
    table(rows),
    '',
    'Targets of issue 6 (ratios of medians measured in this run):',
    ...targetLines(rows),
    '',
    'Issue 6 reference figures for this machine kind (not measured here, for context):',
    ...REFERENCES.map(([what, figure]) => `  ${what}: ${figure}`),
    '',
    ...skipped.map((line) => `skipped: ${line}`),
    `${machine}; ${seconds.toFixed(0)} s in all`
  ].join('\n')
}

function json (rows, meta) {
  return {
    ...meta,
    rows: rows.map((row) => ({
      group: row.group,
      label: row.label,
      unit: row.unit,
      better: row.better,
      na: row.na,
      samples: row.samples,
      summary: row.summary,
      note: row.note,
      comparisons: row.comparisons.map((comparison) => ({
        label: comparison.label,
        na: comparison.na,
        samples: comparison.samples,
        summary: comparison.summary,
        ratio: comparison.ratio,
        target: comparison.target && { ...comparison.target, status: judge(comparison.target, comparison.ratio) }
      }))
    }))
  }
}

module.exports = { text, json }
