'use strict';
// Measures a workload's cases: every peer of a case is warmed up and calibrated to a time per
// repetition, then the repetitions run interleaved (peer order shuffled each round) so that all
// peers of a case see the same load on a shared machine, and their ratios mean something.

const { summary, pause } = require('./stats');
const { table, fmt } = require('./table');

/** Between two timed runs: long enough for another pool's spinning threads to go to sleep. */
const PAUSE_MS = 100;

/**
 * The count of units (steps, batches, calls) that takes about `target` seconds, found by
 * timing growing counts from `start`; the runs double as the warm-up.
 */
async function calibrate(peer, start, max, target) {
  let count = Math.min(start, max);
  let seconds = await peer.time(count);
  while (seconds < target / 10 && count < max) {
    count = Math.min(max, count * 10);
    seconds = await peer.time(count);
  }
  const scaled = Math.round((count * target) / Math.max(seconds, 1e-9));
  return Math.max(1, Math.min(max, scaled));
}

/**
 * 0..n-1 in an order drawn from a small seeded generator: each round of repetitions runs the
 * peers in another order, so no peer always comes right after the same one (one that leaves
 * spinning threads behind, say), and the same run repeats.
 */
function shuffled(n, seed) {
  const order = Array.from({ length: n }, (_, i) => i);
  let state = (seed * 2654435761 + 1) >>> 0;
  for (let i = n - 1; i > 0; i--) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const j = state % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/**
 * Runs one case: { label, start, max, value(count, seconds), peers: [{ peer, threads, time }] }.
 * Returns one row per peer: { label, peer, threads, count, summary } or { ..., error }.
 */
async function measureCase(c, { reps, target }) {
  const rows = [];
  for (const p of c.peers) {
    const row = { label: c.label, peer: p.peer, threads: p.threads, note: p.note, values: [] };
    try {
      row.count = await calibrate(p, c.start ?? 1, c.max ?? 1e9, target);
    } catch (error) {
      row.error = error.message;
    }
    rows.push(row);
  }
  for (let r = 0; r < reps; r++) {
    for (const i of shuffled(rows.length, r)) {
      const row = rows[i];
      if (row.error) continue;
      const peer = c.peers[rows.indexOf(row)];
      await pause(PAUSE_MS);
      try {
        row.values.push(c.value(row.count, await peer.time(row.count)));
      } catch (error) {
        row.error = error.message;
      }
    }
  }
  for (const row of rows) if (!row.error) row.summary = summary(row.values);
  return rows;
}

/** The row every ratio is taken against: nodegrad-native at its default thread count. */
function referenceRow(rows, defaultThreads) {
  return rows.find(
    (r) =>
      r.peer === 'nodegrad-native' &&
      (r.threads === defaultThreads || r.threads === null) &&
      r.summary,
  );
}

/** nodegrad's speed over the peer's (> 1: nodegrad is faster). */
function ratio(reference, row, lowerIsBetter) {
  if (!reference || !row.summary) return '';
  const x = lowerIsBetter
    ? row.summary.median / reference.summary.median
    : reference.summary.median / row.summary.median;
  return `${fmt(x)}×`;
}

function threadsCell(row, defaultThreads) {
  if (row.threads === null || row.threads === undefined) return '1';
  const mark = row.peer === 'nodegrad-native' && row.threads === defaultThreads ? ' (default)' : '';
  return `${row.threads}${mark}`;
}

/** The default table: one row per case and peer. */
function longTable(workload, rows, ctx) {
  const body = [];
  const labels = [...new Set(rows.map((r) => r.label))];
  for (const label of labels) {
    const group = rows.filter((r) => r.label === label);
    const reference = referenceRow(group, ctx.defaultThreads);
    for (const row of group) {
      const peer = row.note ? `${row.peer} (${row.note})` : row.peer;
      const cells = row.summary
        ? [fmt(row.summary.median), `${fmt(row.summary.min)}–${fmt(row.summary.max)}`]
        : [`failed: ${row.error}`, ''];
      body.push([
        label,
        peer,
        threadsCell(row, ctx.defaultThreads),
        ...cells,
        ratio(reference, row, workload.lowerIsBetter),
      ]);
    }
  }
  const header = ['case', 'peer', 'threads', `${workload.unit} median`, 'min–max', 'nodegrad ×'];
  return table(header, body);
}

module.exports = { measureCase, longTable, referenceRow, ratio, threadsCell };
