'use strict';
// Builders for the peers of a case. Each returns { peer, threads, note?, time(count) }, where
// time runs `count` units (steps, batches, calls) and resolves with the seconds they took,
// setup (models, weights, batches) done before the clock starts.

const { ng } = require('./context');
const { seconds } = require('./stats');

/**
 * nodegrad on one backend (and, for native, a thread count): setup() builds what a repetition
 * needs and returns step(i), run `count` times on the clock.
 */
function nodegrad(backend, threads, setup) {
  return {
    peer: `nodegrad-${backend}`,
    threads: backend === 'native' ? threads : null,
    time: (count) => {
      ng.setBackend(backend);
      if (backend === 'native') ng.threads(threads);
      const step = setup();
      return seconds(() => {
        for (let i = 0; i < count; i++) step(i);
      });
    },
  };
}

let tf = null;
let wasmReady = null;

/** TensorFlow.js with its cpu backend, and the wasm backend registered (loaded once). */
function tfjs() {
  if (tf !== null) return tf;
  // tfjs advises tfjs-node once on first use; that line is not part of the benchmark's output.
  tf = quietly(() => require('@tensorflow/tfjs'));
  quietly(() => require('@tensorflow/tfjs-backend-wasm'));
  return tf;
}

/** Runs fn with console.log and console.warn silenced (tfjs's advice banner). */
async function quietlyAsync(fn) {
  const { log, warn } = console;
  console.log = console.warn = () => {};
  try {
    return await fn();
  } finally {
    Object.assign(console, { log, warn });
  }
}

function quietly(fn) {
  const { log, warn } = console;
  console.log = console.warn = () => {};
  try {
    return fn();
  } finally {
    Object.assign(console, { log, warn });
  }
}

async function useTfBackend(name) {
  const t = tfjs();
  // tfjs advises installing tfjs-node on its first use; that is not the benchmark's output.
  return quietlyAsync(async () => {
    if (name === 'wasm' && wasmReady === null) wasmReady = t.setBackend('wasm');
    if (name === 'wasm') await wasmReady;
    if (t.getBackend() !== name) await t.setBackend(name);
    await t.ready();
    t.tensor1d([0]).dispose(); // the cpu backend's first write prints the banner
    return t;
  });
}

/**
 * TensorFlow.js on 'cpu' or 'wasm': setup(tf) returns { step(i), dispose() }; step may return
 * a promise (then each step is awaited, as a training loop must).
 */
function tensorflow(backend, setup) {
  return {
    peer: `tfjs-${backend}`,
    threads: null,
    time: async (count) => {
      const t = await useTfBackend(backend);
      const { step, dispose } = setup(t);
      const start = process.hrtime.bigint();
      for (let i = 0; i < count; i++) step(i);
      await t.ready();
      const s = Number(process.hrtime.bigint() - start) / 1e9;
      dispose();
      return s;
    },
  };
}

/** PyTorch or numpy in the python peer; params go to python_peer.py as they are. */
function python(ctx, workload, name, threads, params, note) {
  return {
    peer: name === 'torch' ? 'PyTorch' : 'numpy',
    threads,
    note,
    time: (count) => ctx.python.time(workload, name, threads, count, params),
  };
}

/** PyTorch and numpy peers at each thread count, or none when python is not there. */
function pythonPeers(ctx, workload, params, { torch = true, numpy = true, threads = [1, 2] } = {}) {
  if (ctx.python === null) return [];
  const peers = [];
  for (const [name, wanted] of [
    ['torch', torch && ctx.python.info.torch],
    ['numpy', numpy],
  ]) {
    if (!wanted) continue;
    for (const t of threads) peers.push(python(ctx, workload, name, t, params));
  }
  return peers;
}

module.exports = { nodegrad, tensorflow, tfjs, pythonPeers, python };
