'use strict';
// W6: the `nodegrad train text` network, a character-level GPT (2 pre-norm blocks, d_model 128,
// 4 heads, feed-forward 512, GELU, context 64, separate head) on Moby Dick, batch 32, AdamW
// (lr 2e-3, weight decay 0.01) with the gradients clipped to norm 1, as the job trains it:
// training steps per second. Every peer starts from nodegrad's seed-0 weights (PyTorch loads
// them by their shared names) and reads the same seeded windows, made before the clock starts.

const { ng, writeArray, writeWeights } = require('../lib/context');
const { nodegrad, pythonPeers } = require('../lib/peers');

const BATCH = 32;
const CONTEXT = 64;
const LR = 2e-3;
const WEIGHT_DECAY = 0.01;
/** Distinct batches a repetition cycles through: enough that no peer sees one batch only. */
const BATCHES = 16;

let corpus = null;

/** The job's vocabulary and BATCHES seeded training windows, with the files python reads. */
function windows() {
  if (corpus !== null) return corpus;
  const text = ng.mobyDick();
  const vocab = new ng.CharVocabulary(text);
  const [train] = ng.splitTokens(vocab.encode(text), 0.9);
  const source = new ng.CharWindows(train, CONTEXT, 0);
  const batches = Array.from({ length: BATCHES }, () => source.sample(BATCH));
  const join = (key) => {
    const all = new Int32Array(BATCHES * BATCH * CONTEXT);
    batches.forEach((b, i) => all.set(b[key], i * BATCH * CONTEXT));
    return all;
  };
  corpus = {
    vocabSize: vocab.size,
    batches,
    files: {
      tokens: writeArray('w6-gpt-tokens.i32', join('tokens')),
      targets: writeArray('w6-gpt-targets.i32', join('targets')),
      batches: BATCHES,
      batch: BATCH,
      context: CONTEXT,
    },
  };
  return corpus;
}

/** The job's model (text-job.ts) with seed-0 weights. */
function model() {
  ng.manualSeed(0);
  return new ng.nn.GPT({ vocabSize: windows().vocabSize, contextLength: CONTEXT });
}

function nodegradGpt(backend, threads) {
  return nodegrad(backend, threads, () => {
    const { batches } = windows();
    const net = model();
    const parameters = net.parameters();
    const opt = new ng.optim.AdamW(parameters, { lr: LR, weightDecay: WEIGHT_DECAY });
    return (i) => {
      const b = batches[i % BATCHES];
      const loss = net.loss(b, b.targets);
      opt.zeroGrad();
      loss.backward();
      ng.nn.clipGradNorm_(parameters, 1);
      opt.step();
    };
  });
}

function cases(ctx) {
  const { vocabSize, files } = windows();
  const weights = writeWeights('w6-gpt', model());
  ctx.notes.push(
    'W6: next to PyTorch only (issue 5 sets the target against it): brain.js has no attention ' +
      'layer, and the model is not written for TensorFlow.js.',
  );
  return [
    {
      label: `GPT 2×128, 4 heads, context 64, batch 32, vocab ${vocabSize}, AdamW`,
      start: 1,
      value: (count, s) => count / s,
      peers: [
        nodegradGpt('native', 1),
        nodegradGpt('native', 2),
        nodegradGpt('native', 'auto'),
        nodegradGpt('reference', null),
        ...pythonPeers(
          ctx,
          'W6',
          { ...files, weights, vocab: vocabSize, lr: LR, weightDecay: WEIGHT_DECAY },
          { numpy: false },
        ),
      ],
    },
  ];
}

module.exports = {
  id: 'W6',
  title: 'character-level GPT (2 layers, d_model 128, 4 heads, context 64), batch 32, Moby Dick',
  unit: 'steps/s',
  // A step takes 0.1-0.3 s: a second per repetition, so one repetition is several steps.
  target: 1,
  cases,
};
