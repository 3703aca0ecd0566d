'use strict'

// A hand-written SVG bar chart of the comparisons: one bar per (row, baseline), its length how many
// times better than the baseline the row is, on a log scale where 1x is parity.

const { judge } = require('./targets')
const format = require('./format')

const WIDTH = 1100
const LABEL_WIDTH = 560
const BAR_HEIGHT = 16
const LINE = 22
const MIN = 0.01
const MAX = 100

function escape (text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** Higher-is-better ratio: a latency 2x the baseline's is 0.5x as good. */
function advantage (row, ratio) {
  return row.better === 'lower' ? 1 / ratio : ratio
}

function x (value) {
  const clamped = Math.min(MAX, Math.max(MIN, value))
  const span = Math.log10(MAX) - Math.log10(MIN)
  return LABEL_WIDTH + ((Math.log10(clamped) - Math.log10(MIN)) / span) * (WIDTH - LABEL_WIDTH - 80)
}

function color (comparison) {
  if (comparison.target) return judge(comparison.target, comparison.ratio) === 'met' ? '#2e7d32' : '#c62828'
  return '#5c6bc0'
}

function bar (row, comparison, y) {
  const value = advantage(row, comparison.ratio)
  const from = x(1)
  const to = x(value)
  const parts = [
    `<text x="${LABEL_WIDTH - 8}" y="${y + 12}" text-anchor="end">${escape(`${row.label} vs ${comparison.label}`.slice(0, 95))}</text>`,
    `<rect x="${Math.min(from, to)}" y="${y}" width="${Math.max(1, Math.abs(to - from))}" height="${BAR_HEIGHT}" fill="${color(comparison)}"/>`,
    `<text x="${Math.max(from, to) + 4}" y="${y + 12}">${escape(format.ratio(comparison.ratio))}</text>`
  ]
  if (comparison.target) {
    const at = x(advantage(row, comparison.target.ratio))
    parts.push(`<line x1="${at}" y1="${y - 2}" x2="${at}" y2="${y + BAR_HEIGHT + 2}" stroke="#000" stroke-width="2"/>`)
  }
  return parts.join('\n')
}

function axis (top, bottom) {
  const ticks = [0.01, 0.1, 1, 10, 100]
  return ticks.map((tick) => [
    `<line x1="${x(tick)}" y1="${top}" x2="${x(tick)}" y2="${bottom}" stroke="${tick === 1 ? '#000' : '#ccc'}"/>`,
    `<text x="${x(tick)}" y="${top - 4}" text-anchor="middle">${tick}x</text>`
  ].join('\n')).join('\n')
}

function render (rows, machine) {
  const body = []
  let y = 70
  let group
  for (const row of rows) {
    const measured = row.comparisons.filter((comparison) => Number.isFinite(comparison.ratio))
    if (measured.length === 0) continue
    if (row.group !== group) {
      group = row.group
      y += 8
      body.push(`<text x="8" y="${y + 12}" font-weight="bold">${escape(group)}</text>`)
      y += LINE
    }
    for (const comparison of measured) {
      body.push(bar(row, comparison, y))
      y += LINE
    }
  }
  const height = y + 20
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="#fff"/>
<text x="8" y="18" font-size="14" font-weight="bold">fastify-shared-state benchmark: each row against its baseline, same run (medians)</text>
<text x="8" y="34">Bar: times better than the baseline, log scale (right of 1x is better; latency, memory and stalls are inverted). Label: value / baseline as in the table. Black tick: issue 6 target. ${escape(machine)}</text>
${axis(56, height - 10)}
${body.join('\n')}
</svg>
`
}

module.exports = { render }
