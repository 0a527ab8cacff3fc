'use strict';
// Small statistics and timing helpers shared by every workload.

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function summary(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), values };
}

/** Seconds fn takes, by the monotonic clock. */
function seconds(fn) {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Seconds an async fn takes. */
async function secondsAsync(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Resolves after ms milliseconds: lets another process's spinning thread pool go to sleep. */
function pause(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

module.exports = { median, summary, seconds, secondsAsync, pause };
