'use strict';
// W2: the main job's network, MLP 784-256-128-10 with ReLU, cross-entropy, batch 64, on the
// 8,000 training digits, with SGD (momentum 0.9, lr 0.05) and with Adam (lr 1e-3): training
// samples per second. Every peer starts from nodegrad's seed-0 weights and gets its batches
// ready-made before the clock starts; a repetition is at most one epoch (125 batches), and
// the slow peers (reference, tfjs cpu) time part of one.

const { ng, writeWeights, trainingDigits } = require('../lib/context');
const { nodegrad, tensorflow, pythonPeers } = require('../lib/peers');

const BATCH = 64;
const SIZES = [784, 256, 128, 10];
const OPTIMIZERS = {
  sgd: { label: 'SGD momentum 0.9, lr 0.05', lr: 0.05, momentum: 0.9 },
  adam: { label: 'Adam, lr 1e-3', lr: 1e-3 },
};

function model() {
  ng.manualSeed(0);
  return new ng.nn.Sequential(
    new ng.nn.Linear(784, 256),
    new ng.nn.ReLU(),
    new ng.nn.Linear(256, 128),
    new ng.nn.ReLU(),
    new ng.nn.Linear(128, 10),
  );
}

function batches() {
  return Math.floor(trainingDigits().samples / BATCH);
}

function nodegradMlp(backend, threads, name) {
  return nodegrad(backend, threads, () => {
    const { images, labels } = trainingDigits();
    const net = model();
    const o = OPTIMIZERS[name];
    const opt =
      name === 'sgd'
        ? new ng.optim.SGD(net.parameters(), { lr: o.lr, momentum: o.momentum })
        : new ng.optim.Adam(net.parameters(), { lr: o.lr });
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

function tfjsMlp(backend, name) {
  return tensorflow(backend, (tf) => {
    const { images, labels } = trainingDigits();
    const layers = SIZES.slice(1).map((units, i) =>
      tf.layers.dense({
        units,
        activation: i < 2 ? 'relu' : 'linear',
        ...(i === 0 ? { inputShape: [784] } : {}),
      }),
    );
    const net = tf.sequential({ layers });
    const state = model().stateDict();
    net.setWeights(
      [0, 2, 4].flatMap((l) => {
        const w = state[`${l}.weight`];
        return [tf.tensor(w.data, w.shape).transpose(), tf.tensor1d(state[`${l}.bias`].data)];
      }),
    );
    const o = OPTIMIZERS[name];
    const opt =
      name === 'sgd' ? tf.train.momentum(o.lr, o.momentum) : tf.train.adam(o.lr, 0.9, 0.999, 1e-8);
    const xs = [];
    const ys = [];
    for (let b = 0; b < batches(); b++) {
      xs.push(
        tf.tensor2d(images.data.subarray(b * BATCH * 784, (b + 1) * BATCH * 784), [BATCH, 784]),
      );
      ys.push(tf.oneHot(tf.tensor1d(labels.subarray(b * BATCH, (b + 1) * BATCH), 'int32'), 10));
    }
    const step = (i) => {
      const b = i % xs.length;
      opt.minimize(() => tf.losses.softmaxCrossEntropy(ys[b], net.apply(xs[b])));
    };
    return { step, dispose: () => tf.dispose([net, opt, ...xs, ...ys]) };
  });
}

function cases(ctx) {
  const digits = trainingDigits();
  const weights = writeWeights('w2-mlp', model());
  ctx.notes.push(
    'W2: brain.js is not run: its NeuralNetwork has no softmax cross-entropy output and no ' +
      'batches (it trains with its own squared error, one sample at a time).',
  );
  return Object.entries(OPTIMIZERS).map(([name, o]) => ({
    label: o.label,
    start: 2,
    max: batches(),
    value: (count, s) => (count * BATCH) / s,
    peers: [
      nodegradMlp('native', 1, name),
      nodegradMlp('native', 2, name),
      nodegradMlp('native', 'auto', name),
      nodegradMlp('reference', null, name),
      tfjsMlp('cpu', name),
      tfjsMlp('wasm', name),
      ...pythonPeers(ctx, 'W2', {
        ...digits.files,
        weights,
        optimizer: name,
        lr: o.lr,
        momentum: o.momentum ?? 0,
        batch: BATCH,
      }),
    ],
  }));
}

module.exports = {
  id: 'W2',
  title: 'MLP 784-256-128-10 ReLU, cross-entropy, batch 64, 8,000 MNIST digits',
  unit: 'samples/s',
  target: 0.6,
  cases,
};
