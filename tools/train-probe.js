#!/usr/bin/env node
// Trains a 16-32-4 ReLU perceptron for a few SGD steps on fixed synthetic data and prints, as
// one JSON line, what it ran on (backend, addon file, SIMD level, OpenBLAS core) and the loss
// after every step. The install checks (tools/check-install.js, also under qemu) and the
// loader tests run it in a fresh process, with NODEGRAD_BACKEND and NODEGRAD_SIMD set as they
// need.
//
//   node tools/train-probe.js [module] [steps] [workers]
//
// module: what to require (default "nodegrad"; the tests pass lib/index.ts, under tsx);
// workers: 0 trains here; 2 trains in two worker_threads at the same time, each loading the
// module itself, and prints one result per worker.
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

/** A few steps of training on data drawn from a fixed seed; the losses, one per step. */
function train(ng, steps) {
  ng.manualSeed(7);
  const x = ng.randn([64, 16]);
  // Labels from a fixed linear map of the inputs, so that there is something to learn.
  const scores = ng.ops.matmul(x, ng.randn([16, 4]));
  const labels = ng.ops.argmax(scores, 1);
  const model = new ng.nn.Sequential(
    new ng.nn.Linear(16, 32),
    new ng.nn.ReLU(),
    new ng.nn.Linear(32, 4),
  );
  const optimizer = new ng.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const losses = [];
  for (let step = 0; step < steps; step++) {
    const loss = ng.F.crossEntropy(model.forward(x), labels);
    optimizer.zeroGrad();
    loss.backward();
    optimizer.step();
    losses.push(loss.item());
  }
  return losses;
}

/** What the library runs on, as backendInfo() says it. */
function describe(ng) {
  const info = ng.backendInfo();
  return {
    backend: info.name,
    reason: info.reason,
    addon: info.addon ?? null,
    simd: info.simd ?? null,
    simdLevels: info.simdLevels ?? null,
    blasCore: info.blas?.corename ?? null,
    threads: ng.threads(),
  };
}

function probe(moduleName, steps) {
  const ng = require(moduleName);
  const losses = train(ng, steps);
  return { ...describe(ng), losses };
}

/** Runs the probe in `count` workers at once; resolves with their results in order. */
function inWorkers(moduleName, steps, count) {
  const runs = [];
  for (let i = 0; i < count; i++) {
    const worker = new Worker(__filename, { workerData: { moduleName, steps } });
    runs.push(
      new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      }),
    );
  }
  return Promise.all(runs);
}

function resolveModule(name) {
  // A path is resolved from where the probe was started, a package name from there too.
  return require.resolve(name, { paths: [process.cwd()] });
}

if (!isMainThread) {
  parentPort.postMessage(probe(workerData.moduleName, workerData.steps));
} else {
  const moduleName = resolveModule(process.argv[2] ?? 'nodegrad');
  const steps = Number(process.argv[3] ?? 5);
  const workers = Number(process.argv[4] ?? 0);
  if (workers === 0) {
    console.log(JSON.stringify(probe(moduleName, steps)));
  } else {
    inWorkers(moduleName, steps, workers).then((results) => {
      console.log(JSON.stringify(results));
    });
  }
}
