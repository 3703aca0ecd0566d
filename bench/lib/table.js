'use strict'

// A plain-text table: columns padded to their widest cell, numbers right-aligned.

function render (headers, rows, { rightAligned = [] } = {}) {
  const cells = rows.filter(Array.isArray)
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...cells.map((row) => String(row[column] ?? '').length)))
  const line = (row) => row.map((cell, column) => {
    const text = String(cell ?? '')
    return rightAligned.includes(column) ? text.padStart(widths[column]) : text.padEnd(widths[column])
  }).join('  ').trimEnd()
  const rule = widths.map((width) => '-'.repeat(width)).join('  ')
  // Rows that are `{ text }` (group headings, notes) print as they are, outside the columns.
  return [line(headers), rule, ...rows.map((row) => Array.isArray(row) ? line(row) : row.text)].join('\n')
}

module.exports = { render }
