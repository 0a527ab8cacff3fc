'use strict';
// Markdown tables, padded so they also read well in a terminal.

function row(cells, widths) {
  return '| ' + cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ') + ' |';
}

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const rule = '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|';
  return [row(header, widths), rule, ...rows.map((r) => row(r, widths))].join('\n');
}

/** A number with about three significant digits, without exponent notation. */
function fmt(value) {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

module.exports = { table, fmt };
