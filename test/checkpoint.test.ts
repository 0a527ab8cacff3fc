/**
 * Checkpoints lose nothing: fit saves model, optimizer, scheduler, generator states, epoch
 * and step atomically; a process killed in the middle of a save leaves the previous
 * checkpoint loadable; and a run resumed from any checkpoint ends with the same weights, bit
 * for bit, as a run never interrupted.
 */

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { DataLoader, TensorDataset } from '../lib/data';
import { Linear, Module, ReLU, Sequential, crossEntropy } from '../lib/nn';
import { Adam, SGD } from '../lib/optim';
import { manualSeed, randn } from '../lib/tensor';
import { fit, loadCheckpoint, saveCheckpoint } from '../lib/train';
import type { FitOptions, Stateful } from '../lib/train';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodegrad-ckpt-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** 30 points in 5-D, 3 classes, in shuffled batches of 4 (the last one of 2). */
function loader(seed?: number) {
  manualSeed(11);
  const x = randn([30, 5]);
  const y = Int32Array.from({ length: 30 }, (_, i) => i % 3);
  return new DataLoader(new TensorDataset(x, y), { batchSize: 4, shuffle: true, seed });
}

function model(): Sequential {
  manualSeed(12);
  return new Sequential(new Linear(5, 16), new ReLU(), new Linear(16, 3));
}

function weights(m: Module): Float32Array[] {
  return m.parameters().map((p) => Float32Array.from(p.data));
}

/** A scheduler-like object: it counts epochs and halves the learning rate every epoch. */
class Halving implements Stateful {
  epochs = 0;
  constructor(readonly optimizer: Adam) {}
  step(): void {
    this.epochs++;
    for (const group of this.optimizer.paramGroups) group.lr /= 2;
  }
  stateDict() {
    return { epochs: this.epochs };
  }
  loadStateDict(state: { epochs: number }) {
    this.epochs = state.epochs;
  }
}

/**
 * Trains 3 epochs; with `stopAt`, aborts after that many steps and resumes from the last
 * checkpoint in a fresh model, optimizer and scheduler. Shuffling draws from the loader's own
 * generator (seed) or from the global one (no seed), which the seed below moves on.
 */
async function run(file: string, seed: number | undefined, stopAt?: number) {
  const train = async (resume?: string, abortAt?: number) => {
    const net = model();
    const optimizer = new Adam(net.parameters(), { lr: 0.01 });
    const scheduler = new Halving(optimizer);
    const controller = new AbortController();
    let steps = 0;
    const options: FitOptions = {
      epochs: 3,
      optimizer,
      loss: crossEntropy,
      signal: controller.signal,
      checkpoint: { path: file, everySteps: 1, scheduler },
      resume,
      callbacks: {
        onEpochEnd: () => scheduler.step(),
        onBatchEnd: () => {
          if (++steps === abortAt) controller.abort();
        },
      },
    };
    manualSeed(99);
    const history = await fit(net, loader(seed), options);
    return { net, history, scheduler, optimizer };
  };

  if (stopAt === undefined) return train();
  await expect(train(undefined, stopAt)).rejects.toMatchObject({ name: 'AbortError' });
  return train(file);
}

describe('fit checkpoints', () => {
  for (const seed of [5, undefined]) {
    const shuffle = seed === undefined ? 'the global generator' : 'its own generator';
    it(`resumes bit-identically mid-epoch and at epoch ends (loader shuffles with ${shuffle})`, async () => {
      const whole = await run(path.join(dir, `whole-${seed}.ckpt`), seed);
      // 8 batches per epoch: stop in epoch 1, at the end of epoch 1, in epoch 3.
      for (const stopAt of [3, 8, 19]) {
        const file = path.join(dir, `resumed-${seed}-${stopAt}.ckpt`);
        const resumed = await run(file, seed, stopAt);
        expect(weights(resumed.net)).toEqual(weights(whole.net));
        expect(resumed.scheduler.epochs).toBe(3);
        expect(resumed.optimizer.paramGroups[0].lr).toBe(whole.optimizer.paramGroups[0].lr);
        // The interrupted epoch's record counts the batches trained before the break too.
        expect(resumed.history.epochs.at(-1)?.loss).toBe(whole.history.epochs.at(-1)?.loss);
      }
    });
  }

  it('saves model, optimizer state, scheduler, generators, epoch and step', async () => {
    const file = path.join(dir, 'contents.ckpt');
    const net = model();
    const optimizer = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9 });
    await fit(net, loader(1), {
      epochs: 1,
      optimizer,
      loss: crossEntropy,
      checkpoint: { path: file, everySteps: 5, everyEpoch: false },
    });
    const saved = loadCheckpoint(file);
    expect(saved.position).toMatchObject({ epoch: 0, step: 5, globalStep: 5 });
    expect(saved.position.rng).toHaveLength(4);
    expect(saved.position.loaderRngAtEpochStart).toHaveLength(4);
    expect(Object.keys(saved.model)).toEqual(Object.keys(net.stateDict()));
    expect(Object.keys(saved.optimizer?.state ?? {})).toEqual(['0', '1', '2', '3']);
    expect(saved.optimizer?.state[0].step).toBe(5);
    expect(saved.optimizer?.state[0].momentumBuffer).toBeInstanceOf(Float32Array);
    expect(saved.scheduler).toBe(null);
    expect(fs.readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('checks its options and refuses a file that is not a checkpoint', async () => {
    const net = model();
    const options = {
      epochs: 1,
      optimizer: new SGD(net.parameters(), { lr: 0.1 }),
      loss: crossEntropy,
    };
    await expect(fit(net, loader(1), { ...options, checkpoint: { path: '' } })).rejects.toThrow(
      'fit(checkpoint.path): expected a file path, received ""',
    );
    await expect(
      fit(net, loader(1), { ...options, checkpoint: { path: 'x', everySteps: 0 } }),
    ).rejects.toThrow('fit(checkpoint.everySteps): expected an integer >= 1, received 0');
    const weightsOnly = path.join(dir, 'weights.safetensors');
    const { save } = await import('../lib/io');
    save(net.stateDict(), weightsOnly);
    await expect(fit(net, loader(1), { ...options, resume: weightsOnly })).rejects.toThrow(
      /^loadCheckpoint\(".*weights.safetensors"\): expected a checkpoint written by fit/,
    );
  });

  it('leaves the last good checkpoint loadable when the process is killed mid-save', async () => {
    const file = path.join(dir, 'killed.ckpt');
    const net = new Sequential(new Linear(1000, 1000));
    const position = {
      epoch: 0,
      step: 0,
      globalStep: 0,
      rng: [1, 2, 3, 4],
      rngAtEpochStart: [1, 2, 3, 4],
      loaderRngAtEpochStart: null,
      samples: 0,
      lossSum: 0,
      correct: 0,
    };
    saveCheckpoint(file, { model: net, position });

    // A child that saves 4 MB checkpoints in a loop, killed as soon as a temporary file shows.
    const child = spawn(process.execPath, ['--import', 'tsx', saverScript(), file], {
      cwd: path.resolve(__dirname, '..'),
      stdio: 'ignore',
    });
    const tempSeen = await killWhenTempAppears(child, dir, 'killed.ckpt');
    expect(tempSeen).toBe(true);

    // The target is a complete checkpoint: the first one or one of the child's.
    const saved = loadCheckpoint(file);
    expect(saved.model['0.weight'].shape).toEqual([1000, 1000]);
    expect(saved.position.globalStep).toBeGreaterThanOrEqual(0);
  }, 30_000);
});

function saverScript(): string {
  const script = path.join(dir, 'saver.ts');
  const lib = path.resolve(__dirname, '..', 'lib');
  fs.writeFileSync(
    script,
    `import { Linear, Sequential } from ${JSON.stringify(path.join(lib, 'nn'))};
     import { saveCheckpoint } from ${JSON.stringify(path.join(lib, 'train'))};
     const net = new Sequential(new Linear(1000, 1000));
     for (let globalStep = 1; ; globalStep++) {
       const position = { epoch: 0, step: globalStep, globalStep, rng: [1, 2, 3, 4],
         rngAtEpochStart: [1, 2, 3, 4], loaderRngAtEpochStart: null, samples: 0, lossSum: 0,
         correct: 0 };
       saveCheckpoint(process.argv[2], { model: net, position });
     }`,
  );
  return script;
}

/** SIGKILLs the child the moment a temporary file of `name` exists; says whether one did. */
async function killWhenTempAppears(
  child: ReturnType<typeof spawn>,
  where: string,
  name: string,
): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  let seen = false;
  while (!seen && Date.now() < deadline && child.exitCode === null) {
    seen = fs.readdirSync(where).some((f) => f.startsWith(`.${name}.`) && f.endsWith('.tmp'));
    if (!seen) await new Promise((resolve) => setImmediate(resolve));
  }
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  return seen;
}
