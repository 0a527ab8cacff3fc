/**
 * The character-level GPT job behind `nodegrad train text`: a text (a file, or Moby Dick from
 * the optional corpus package), its characters as the vocabulary, seeded random windows of the
 * first 90% for training and of the last 10% for the held-out loss, AdamW with a linear
 * warm-up and a cosine decay, gradients clipped to norm 1, and samples drawn at the end.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { noGrad } from '../autograd/grad-mode';
import { CharVocabulary, CharWindows, mobyDick, readTextFile, splitTokens } from '../data/text';
import type { CharBatch } from '../data/text';
import { save } from '../io';
import { checkWritableDirectory } from './mnist-job';
import { clipGradNorm_ } from '../nn/clip';
import { GPT } from '../nn/gpt';
import { AdamW } from '../optim/adam';
import { CosineAnnealingLR, LinearLR } from '../optim/lr-scheduler';
import type { LRScheduler } from '../optim/lr-scheduler';
import { Generator, manualSeed } from '../tensor/random';

export interface TextJobOptions {
  /** A UTF-8 text file; Moby Dick when absent. */
  file?: string;
  steps: number;
  batchSize: number;
  /** The peak learning rate, reached after the warm-up. */
  lr: number;
  warmup: number;
  seed: number;
  contextLength: number;
  dModel: number;
  numHeads: number;
  numLayers: number;
  tieWeights: boolean;
  /** Steps between held-out evaluations (and log lines). */
  evalEvery: number;
  /** Windows in each loss estimate. */
  evalWindows: number;
  sampleLength: number;
  temperature: number;
  /** Where to save the weights (with the vocabulary in the metadata), or null. */
  out: string | null;
  signal?: AbortSignal;
}

export interface TextLog {
  step: number;
  trainLoss: number;
  heldOutLoss: number;
  lr: number;
  tokensPerSec: number;
  seconds: number;
}

export interface TextJobHooks {
  onStart?(info: { characters: number; vocabulary: number; parameters: number }): void;
  onLog?(log: TextLog): void;
}

export interface TextJobResult {
  logs: TextLog[];
  samples: string[];
  seconds: number;
}

/** The default text: Moby Dick, or the file asked for. */
function loadText(file: string | undefined, minLength: number): string {
  return file === undefined ? mobyDick() : readTextFile(file, minLength);
}

/** Mean loss over fixed windows, in batches, without building a graph. */
function estimateLoss(model: GPT, windows: CharBatch[]): number {
  return noGrad(() => {
    let total = 0;
    for (const w of windows) total += model.loss(w, w.targets).item();
    return total / windows.length;
  });
}

/** `count` windows in batches of at most `batch`, from a seeded generator of their own. */
function fixedWindows(
  tokens: Int32Array,
  context: number,
  count: number,
  batch: number,
  seed: number,
) {
  const source = new CharWindows(tokens, context, seed);
  const out: CharBatch[] = [];
  for (let left = count; left > 0; left -= batch) out.push(source.sample(Math.min(batch, left)));
  return out;
}

/** Linear warm-up to the peak rate, then cosine decay to a tenth of it by the last step. */
class WarmupCosine {
  private current: LRScheduler;
  private step = 0;

  constructor(
    private readonly optimizer: AdamW,
    private readonly warmup: number,
    private readonly total: number,
    private readonly peak: number,
  ) {
    this.current = new LinearLR(optimizer, { startFactor: 1 / (warmup + 1), totalIters: warmup });
  }

  advance(): void {
    this.step++;
    if (this.step === this.warmup) {
      const tMax = Math.max(1, this.total - this.warmup);
      this.current = new CosineAnnealingLR(this.optimizer, { tMax, etaMin: this.peak / 10 });
      return;
    }
    this.current.step();
  }
}

/**
 * Trains a character-level GPT and returns its loss curve and samples.
 *
 * @example
 * const { logs, samples } = await trainText({ ...defaults, steps: 1500 });
 */
export async function trainText(
  o: TextJobOptions,
  hooks: TextJobHooks = {},
): Promise<TextJobResult> {
  if (o.out !== null) checkWritableDirectory(o.out);
  const text = loadText(o.file, 2 * (o.contextLength + 1));
  const vocab = new CharVocabulary(text);
  const [train, heldOut] = splitTokens(vocab.encode(text), 0.9);
  const windows = new CharWindows(train, o.contextLength, o.seed);
  const evalTrain = fixedWindows(train, o.contextLength, o.evalWindows, o.batchSize, o.seed + 1);
  const evalHeld = fixedWindows(heldOut, o.contextLength, o.evalWindows, o.batchSize, o.seed + 2);

  manualSeed(o.seed);
  const model = new GPT({
    vocabSize: vocab.size,
    contextLength: o.contextLength,
    dModel: o.dModel,
    numHeads: o.numHeads,
    numLayers: o.numLayers,
    tieWeights: o.tieWeights,
  });
  const parameters = model.parameters();
  const optimizer = new AdamW(parameters, { lr: o.lr, weightDecay: 0.01 });
  const schedule = new WarmupCosine(optimizer, o.warmup, o.steps, o.lr);
  hooks.onStart?.({
    characters: text.length,
    vocabulary: vocab.size,
    parameters: parameters.reduce((n, p) => n + p.numel, 0),
  });

  const logs: TextLog[] = [];
  const started = performance.now();
  let since = started;
  for (let step = 1; step <= o.steps; step++) {
    o.signal?.throwIfAborted();
    const batch = windows.sample(o.batchSize);
    const loss = model.loss(batch, batch.targets);
    optimizer.zeroGrad();
    loss.backward();
    clipGradNorm_(parameters, 1);
    optimizer.step();
    schedule.advance();

    if (step % o.evalEvery === 0 || step === o.steps) {
      const now = performance.now();
      const stepsDone = step % o.evalEvery === 0 ? o.evalEvery : step % o.evalEvery;
      const log: TextLog = {
        step,
        trainLoss: estimateLoss(model, evalTrain),
        heldOutLoss: estimateLoss(model, evalHeld),
        lr: optimizer.paramGroups[0].lr,
        tokensPerSec: (stepsDone * o.batchSize * o.contextLength * 1000) / (now - since),
        seconds: (now - started) / 1000,
      };
      logs.push(log);
      hooks.onLog?.(log);
      since = performance.now();
    }
    // Let timers and I/O run between steps: a server can train in the background.
    await sleep(0);
  }

  const samples = drawSamples(model, vocab, heldOut, o);
  if (o.out !== null) {
    save(model.stateDict(), o.out, {
      format: 'pt',
      model: `nodegrad char-gpt ${o.numLayers} layers d_model ${o.dModel}`,
      vocabulary: JSON.stringify(vocab.chars),
    });
  }
  return { logs, samples, seconds: (performance.now() - started) / 1000 };
}

/** Three continuations of held-out prompts (16 characters each), seeded. */
function drawSamples(model: GPT, vocab: CharVocabulary, heldOut: Int32Array, o: TextJobOptions) {
  const generator = new Generator(o.seed);
  const prompts = new CharWindows(heldOut, 16, o.seed + 3).sample(3);
  return Array.from({ length: 3 }, (_, i) => {
    const prompt = prompts.tokens.subarray(i * 16, (i + 1) * 16);
    const ids = model.generate(prompt, o.sampleLength, { temperature: o.temperature, generator });
    return vocab.decode(ids);
  });
}
