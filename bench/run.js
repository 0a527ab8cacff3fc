#!/usr/bin/env node
// `npm run bench`: the numbers issue 2 asks for, measured side by side in one run.
//   1. MNIST-MLP (784-256-128-10, SGD momentum, batch 64) training samples/s on the native
//      and the reference backend, and their ratio.
//   2. sgemm GFLOPS at n = 256, 512, 1024 through nodegrad's binding, next to OpenBLAS called
//      directly from bench/sgemm_direct.cc (built with CMake), and their ratio.
// Medians of several repetitions after a warm-up; the machine is shared, so only ratios taken
// in the same run mean much. Uses the compiled library in dist/ (npm run build:ts).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const ng = require(root);

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function timeSeconds(fn) {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** One epoch of the main job's network over `count` digits; returns samples per second. */
function mlpSamplesPerSecond(images, labels, count) {
  ng.manualSeed(0);
  const model = new ng.nn.Sequential(
    new ng.nn.Linear(784, 256),
    new ng.nn.ReLU(),
    new ng.nn.Linear(256, 128),
    new ng.nn.ReLU(),
    new ng.nn.Linear(128, 10),
  );
  const optimizer = new ng.optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const batch = 64;
  const seconds = timeSeconds(() => {
    for (let start = 0; start < count; start += batch) {
      const end = Math.min(start + batch, count);
      const x = ng.tensor(images.data.subarray(start * 784, end * 784), {
        shape: [end - start, 784],
      });
      const loss = ng.F.crossEntropy(model.forward(x), labels.subarray(start, end));
      optimizer.zeroGrad();
      loss.backward();
      optimizer.step();
    }
  });
  return count / seconds;
}

/**
 * Samples/s on each backend, the repetitions interleaved (native, reference, native, ...) so
 * that both see the same load on a shared machine and their ratio means something. The
 * reference backend trains on fewer digits per repetition: it is much slower.
 */
function benchMlp(reps) {
  const { images, labels } = ng.mnist();
  const plan = { native: 8000, reference: 2000 };
  const runs = { native: [], reference: [] };
  for (const name of Object.keys(plan)) {
    ng.setBackend(name);
    mlpSamplesPerSecond(images, labels, 640); // warm-up
  }
  for (let r = 0; r < reps; r++) {
    for (const [name, count] of Object.entries(plan)) {
      ng.setBackend(name);
      runs[name].push(mlpSamplesPerSecond(images, labels, count));
    }
  }
  const summary = (v) => ({ median: median(v), min: Math.min(...v), max: Math.max(...v) });
  return { native: summary(runs.native), reference: summary(runs.reference) };
}

/** GFLOPS of C = A B at n x n x n through the binding. */
function bindingGflops(n, reps) {
  ng.setBackend('native');
  const backend = ng.getBackend();
  const a = new Float32Array(n * n).map(() => Math.random() - 0.5);
  const b = new Float32Array(n * n).map(() => Math.random() - 0.5);
  const c = new Float32Array(n * n);
  const run = () => backend.gemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n);
  for (let i = 0; i < 3; i++) run();
  const inner = Math.max(1, Math.round(2e9 / (2 * n * n * n)));
  const times = Array.from(
    { length: reps },
    () =>
      timeSeconds(() => {
        for (let i = 0; i < inner; i++) run();
      }) / inner,
  );
  return (2 * n * n * n) / median(times) / 1e9;
}

/** Builds bench/sgemm_direct.cc with the project's CMakeLists.txt (incrementally), runs it. */
function directGflops() {
  const buildDir = path.join(root, 'build', 'cmake');
  const exe = path.join(buildDir, 'sgemm_direct');
  if (!fs.existsSync(path.join(buildDir, 'CMakeCache.txt'))) {
    execFileSync('cmake', ['-S', root, '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release'], {
      stdio: 'ignore',
    });
  }
  execFileSync('cmake', ['--build', buildDir, '--target', 'sgemm_direct'], { stdio: 'ignore' });
  const out = execFileSync(exe, { encoding: 'utf8' });
  const result = {};
  for (const line of out.trim().split('\n')) {
    const row = JSON.parse(line);
    result[row.n] = row.gflops;
  }
  return result;
}

function row(cells, widths) {
  return '| ' + cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ') + ' |';
}

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const rule = '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|';
  return [row(header, widths), rule, ...rows.map((r) => row(r, widths))].join('\n');
}

function main() {
  const info = ng.backendInfo();
  if (info.name !== 'native') {
    console.error(`bench: the native backend is not available (${info.reason}); build it first.`);
    process.exit(1);
  }
  const blas = info.blas || {};
  console.log(
    `machine: ${os.cpus()[0].model}, ${os.cpus().length} cores; SIMD ${info.simd} ` +
      `(CPU has ${info.simdLevels.join(', ')}); BLAS ${blas.corename ?? '?'} ` +
      `threads ${blas.threads ?? '?'}; Node ${process.version}\n`,
  );

  const { native, reference } = benchMlp(5);
  console.log('MNIST-MLP 784-256-128-10, SGD momentum, batch 64: training samples/s');
  const fmt = (r) => `${r.median.toFixed(0)} (${r.min.toFixed(0)}–${r.max.toFixed(0)})`;
  console.log(
    table(
      ['backend', 'samples/s median (min–max)', 'ratio to reference'],
      [
        ['native', fmt(native), (native.median / reference.median).toFixed(1) + '×'],
        ['reference', fmt(reference), '1.0×'],
      ],
    ),
  );

  // Three rounds, direct and binding one after the other in each, medians across rounds.
  const sizes = [256, 512, 1024];
  const rounds = { direct: [], binding: [] };
  for (let r = 0; r < 3; r++) {
    rounds.direct.push(directGflops());
    rounds.binding.push(Object.fromEntries(sizes.map((n) => [n, bindingGflops(n, 7)])));
  }
  const rows = sizes.map((n) => {
    const viaBinding = median(rounds.binding.map((round) => round[n]));
    const direct = median(rounds.direct.map((round) => round[n]));
    return [
      n,
      viaBinding.toFixed(1),
      direct.toFixed(1),
      `${((100 * viaBinding) / direct).toFixed(0)}%`,
    ];
  });
  console.log(
    '\nsgemm C = A·B, n×n×n, GFLOPS: per round the median of 7 batches of ~2 GFLOP (the same\n' +
      'method both sides), then the median of 3 rounds that alternate the two',
  );
  console.log(table(['n', 'nodegrad binding', 'OpenBLAS direct (C++)', 'binding / direct'], rows));
}

main();
