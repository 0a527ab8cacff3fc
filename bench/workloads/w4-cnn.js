'use strict';
// W4: the `--model cnn` network, two 3x3 convolutions (32 and 64 filters, padding 1) each with
// ReLU and a 2x2 max pool, then Linear(3136, 128), ReLU, Linear(128, 10), cross-entropy, batch
// 64, Adam (lr 1e-3), on
// the 8,000 training digits: training samples per second. Every peer starts from nodegrad's
// seed-0 weights (PyTorch loads them by their shared names) and gets its batches ready-made
// before the clock starts.

const { ng, writeWeights, trainingDigits } = require('../lib/context');
const { nodegrad, pythonPeers } = require('../lib/peers');

const BATCH = 64;
const LR = 1e-3;

/** The network of lib/cli/mnist-models.ts, as the library builds it. */
function model() {
  ng.manualSeed(0);
  const { MnistCnn } = require('../../dist/cli/mnist-models');
  return new MnistCnn();
}

function batches() {
  return Math.floor(trainingDigits().samples / BATCH);
}

function nodegradCnn(backend, threads) {
  return nodegrad(backend, threads, () => {
    const { images, labels } = trainingDigits();
    const net = model();
    const opt = new ng.optim.Adam(net.parameters(), { lr: LR });
    const xs = [];
    const ys = [];
    for (let b = 0; b < batches(); b++) {
      const rows = images.data.subarray(b * BATCH * 784, (b + 1) * BATCH * 784);
      xs.push(ng.tensor(rows, { shape: [BATCH, 784] }));
      ys.push(labels.subarray(b * BATCH, (b + 1) * BATCH));
    }
    return (i) => {
      const b = i % xs.length;
      const loss = ng.F.crossEntropy(net.forward(xs[b]), ys[b]);
      opt.zeroGrad();
      loss.backward();
      opt.step();
    };
  });
}

function cases(ctx) {
  const digits = trainingDigits();
  const weights = writeWeights('w4-cnn', model());
  return [
    {
      label: 'conv 3x3 32, pool, conv 3x3 64, pool, MLP 3136-128-10, Adam lr 1e-3',
      start: 1,
      max: batches(),
      value: (count, s) => (count * BATCH) / s,
      peers: [
        nodegradCnn('native', 1),
        nodegradCnn('native', 2),
        nodegradCnn('native', 'auto'),
        nodegradCnn('reference', null),
        ...pythonPeers(
          ctx,
          'W4',
          { ...digits.files, weights, lr: LR, batch: BATCH },
          {
            numpy: false,
          },
        ),
      ],
    },
  ];
}

module.exports = {
  id: 'W4',
  title: 'CNN on MNIST (two conv-ReLU-maxpool stages, MLP head), batch 64, 8,000 digits',
  unit: 'samples/s',
  target: 0.6,
  cases,
};
