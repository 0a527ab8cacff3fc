'use strict';
// W5: the `--model lstm` network, an LSTM(28, 128) reading each digit row by row (28 steps of
// 28 pixels) and a Linear(128, 10) on the last hidden state, cross-entropy, batch 64, Adam
// (lr 2e-3), on the 8,000 training digits: training samples per second. Every peer starts
// from nodegrad's seed-0 weights (PyTorch loads them by their shared names) and gets its
// batches ready-made before the clock starts.

const { ng, writeWeights, trainingDigits } = require('../lib/context');
const { nodegrad, pythonPeers } = require('../lib/peers');

const BATCH = 64;
const LR = 2e-3;

/** The network of lib/cli/mnist-models.ts, as the library builds it. */
function model() {
  ng.manualSeed(0);
  const { MnistLstm } = require('../../dist/cli/mnist-models');
  return new MnistLstm();
}

function batches() {
  return Math.floor(trainingDigits().samples / BATCH);
}

function nodegradLstm(backend, threads) {
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
  const weights = writeWeights('w5-lstm', model());
  return [
    {
      label: 'LSTM(28, 128) + Linear(128, 10), Adam lr 2e-3',
      start: 1,
      max: batches(),
      value: (count, s) => (count * BATCH) / s,
      peers: [
        nodegradLstm('native', 1),
        nodegradLstm('native', 2),
        nodegradLstm('native', 'auto'),
        nodegradLstm('reference', null),
        ...pythonPeers(
          ctx,
          'W5',
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
  id: 'W5',
  title: 'LSTM over MNIST rows (28 steps x 28), hidden 128, batch 64, 8,000 digits',
  unit: 'samples/s',
  target: 0.6,
  cases,
};
