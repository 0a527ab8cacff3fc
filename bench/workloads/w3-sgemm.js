'use strict';
// W3: sgemm GFLOPS, C = op(A) op(B), through nodegrad's native backend (the gemm that matmul,
// linear and their gradients call) next to OpenBLAS's cblas_sgemm called from C++
// (sgemm_direct.cc), at 1 and 2 threads; nodegrad under its default thread policy ('auto': one
// thread below 2^28 multiply-adds); PyTorch's mm and numpy's @ at 2 threads for context.
// Square sizes, then the products one training step of W2's network does at batch 64.

const { ng } = require('../lib/context');
const { python } = require('../lib/peers');
const { seconds } = require('../lib/stats');
const { table, fmt } = require('../lib/table');

const SQUARES = [64, 128, 256, 512, 1024, 2048].map((n) => ({
  label: `${n}×${n}×${n}`,
  m: n,
  n,
  k: n,
  transA: false,
  transB: false,
}));

// [m, n, k] with transposes, as F.linear's forward (x Wᵀ) and backward (G W, Gᵀ X) call them.
const MLP = [
  ['fc1 x·Wᵀ', 64, 256, 784, false, true],
  ['fc1 Gᵀ·X', 256, 784, 64, true, false],
  ['fc2 x·Wᵀ', 64, 128, 256, false, true],
  ['fc2 G·W', 64, 256, 128, false, false],
  ['fc2 Gᵀ·X', 128, 256, 64, true, false],
  ['fc3 x·Wᵀ', 64, 10, 128, false, true],
  ['fc3 G·W', 64, 128, 10, false, false],
  ['fc3 Gᵀ·X', 10, 128, 64, true, false],
].map(([name, m, n, k, transA, transB]) => ({
  label: `${name} ${m}×${n}×${k}`,
  m,
  n,
  k,
  transA,
  transB,
}));

function operands({ m, n, k, transA, transB }) {
  const random = (size) => Float32Array.from({ length: size }, () => Math.random() * 2 - 1);
  return { a: random(m * k), b: random(k * n), c: new Float32Array(m * n), transA, transB };
}

function nodegradGemm(shape, threads) {
  const { m, n, k, transA, transB } = shape;
  let o = null;
  return {
    peer: 'nodegrad-native',
    threads,
    time: (count) => {
      ng.setBackend('native');
      ng.threads(threads);
      o ??= operands(shape);
      const backend = ng.getBackend();
      const lda = transA ? m : k;
      const ldb = transB ? k : n;
      return seconds(() => {
        for (let i = 0; i < count; i++) {
          backend.gemm(transA, transB, m, n, k, 1, o.a, lda, o.b, ldb, 0, o.c, n);
        }
      });
    },
  };
}

function directGemm(ctx, shape, threads) {
  return {
    peer: 'OpenBLAS direct',
    threads,
    time: (count) => ctx.direct.time(shape, threads, count),
  };
}

function cases(ctx) {
  return [...SQUARES, ...MLP].map((shape) => {
    const peers = [];
    for (const t of [1, 2]) {
      peers.push(nodegradGemm(shape, t));
      if (ctx.direct) peers.push(directGemm(ctx, shape, t));
    }
    peers.push(nodegradGemm(shape, 'auto'));
    if (ctx.python) {
      if (ctx.python.info.torch) peers.push(python(ctx, 'W3', 'torch', 2, shape));
      peers.push(python(ctx, 'W3', 'numpy', 2, shape));
    }
    return {
      label: shape.label,
      start: 1,
      value: (count, s) => (2 * shape.m * shape.n * shape.k * count) / s / 1e9,
      peers,
    };
  });
}

/** One row per shape: nodegrad and direct side by side at each thread count. */
function format(rows) {
  const labels = [...new Set(rows.map((r) => r.label))];
  const cell = (label, peer, threads) => {
    const row = rows.find((r) => r.label === label && r.peer === peer && r.threads === threads);
    return row?.summary ?? null;
  };
  const show = (s) => (s ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : '–');
  const percent = (a, b) => (a && b ? `${((100 * a.median) / b.median).toFixed(0)}%` : '–');
  const body = labels.map((label) => {
    const cells = [label];
    for (const t of [1, 2]) {
      const ours = cell(label, 'nodegrad-native', t);
      const direct = cell(label, 'OpenBLAS direct', t);
      cells.push(show(ours), show(direct), percent(ours, direct));
    }
    cells.push(show(cell(label, 'nodegrad-native', 'auto')));
    cells.push(show(cell(label, 'PyTorch', 2)), show(cell(label, 'numpy', 2)));
    return cells;
  });
  const header = [
    'm×n×k',
    'nodegrad 1t',
    'direct 1t',
    'ng/direct 1t',
    'nodegrad 2t',
    'direct 2t',
    'ng/direct 2t',
    'nodegrad auto',
    'PyTorch 2t',
    'numpy 2t',
  ];
  return table(header, body);
}

module.exports = {
  id: 'W3',
  title: 'sgemm GFLOPS, median (min–max): nodegrad next to OpenBLAS called from C++',
  unit: 'GFLOPS',
  target: 0.1,
  reps: 15,
  needsDirect: true,
  cases,
  format,
};
