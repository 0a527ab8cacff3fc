'use strict';
// W1: the 2-2-1 sigmoid network of the backpropagation derivation on XOR, mean squared error,
// plain SGD at lr 0.5, one sample per step; every peer starts from nodegrad's initial weights.

const { ng, writeWeights } = require('../lib/context');
const { nodegrad, tensorflow, pythonPeers } = require('../lib/peers');
const { seconds } = require('../lib/stats');

const LR = 0.5;
const XS = [
  [0, 0],
  [0, 1],
  [1, 0],
  [1, 1],
];
const YS = [[0], [1], [1], [0]];

/** The network with seed-0 weights; every peer copies them. */
function model() {
  ng.manualSeed(0);
  return new ng.nn.Sequential(
    new ng.nn.Linear(2, 2),
    new ng.nn.Sigmoid(),
    new ng.nn.Linear(2, 1),
    new ng.nn.Sigmoid(),
  );
}

function nodegradXor(backend, threads) {
  return nodegrad(backend, threads, () => {
    const net = model();
    const opt = new ng.optim.SGD(net.parameters(), { lr: LR });
    const xs = XS.map((x) => ng.tensor([x]));
    const ys = YS.map((y) => ng.tensor([y]));
    return (i) => {
      const loss = ng.F.mseLoss(net.forward(xs[i & 3]), ys[i & 3]);
      opt.zeroGrad();
      loss.backward();
      opt.step();
    };
  });
}

/** [weight [out, in], bias] of each Linear as plain arrays. */
function initialWeights() {
  const state = model().stateDict();
  const layer = (i) => ({
    weight: state[`${i}.weight`],
    bias: Array.from(state[`${i}.bias`].data),
  });
  return [layer(0), layer(2)];
}

function tfjsXor(backend) {
  return tensorflow(backend, (tf) => {
    const net = tf.sequential({
      layers: [
        tf.layers.dense({ units: 2, activation: 'sigmoid', inputShape: [2] }),
        tf.layers.dense({ units: 1, activation: 'sigmoid' }),
      ],
    });
    // tfjs keeps a Dense kernel as [in, out]: the transpose of nodegrad's weight.
    net.setWeights(
      initialWeights().flatMap(({ weight, bias }) => [
        tf.tensor(weight.data, weight.shape).transpose(),
        tf.tensor1d(bias),
      ]),
    );
    const opt = tf.train.sgd(LR);
    const xs = XS.map((x) => tf.tensor2d([x]));
    const ys = YS.map((y) => tf.tensor2d([y]));
    const loss = (i) => tf.losses.meanSquaredError(ys[i & 3], net.apply(xs[i & 3]));
    return {
      step: (i) => opt.minimize(() => loss(i)),
      dispose: () => tf.dispose([net, opt, ...xs, ...ys]),
    };
  });
}

/**
 * brain.js's NeuralNetwork trains one pattern at a time with its own update, which has no
 * factor 2 of MSE's derivative: its learning rate 1.0 is SGD's 0.5 on MSE.
 */
function brainXor() {
  const brain = require('brain.js');
  return {
    peer: 'brain.js',
    threads: null,
    note: 'trainPattern, lr 1.0 = 0.5 on MSE',
    time: (count) => {
      const net = new brain.NeuralNetwork({ hiddenLayers: [2], activation: 'sigmoid' });
      net.sizes = [2, 2, 1];
      net.initialize();
      initialWeights().forEach(({ weight, bias }, l) => {
        for (let node = 0; node < weight.shape[0]; node++) {
          net.biases[l + 1][node] = bias[node];
          for (let k = 0; k < weight.shape[1]; k++) {
            net.weights[l + 1][node][k] = weight.data[node * weight.shape[1] + k];
          }
        }
      });
      net.trainOpts.learningRate = 2 * LR;
      net.trainOpts.momentum = 0;
      const patterns = XS.map((input, i) => ({ input, output: YS[i] }));
      return seconds(() => {
        for (let i = 0; i < count; i++) net.trainPattern(patterns[i & 3]);
      });
    },
  };
}

function cases(ctx) {
  const params = { weights: writeWeights('w1-xor', model()), lr: LR };
  return [
    {
      label: 'SGD, 1 sample/step',
      start: 100,
      value: (count, s) => count / s,
      peers: [
        nodegradXor('native', 1),
        nodegradXor('native', 2),
        nodegradXor('native', 'auto'),
        nodegradXor('reference', null),
        tfjsXor('cpu'),
        tfjsXor('wasm'),
        brainXor(),
        ...pythonPeers(ctx, 'W1', params),
      ],
    },
  ];
}

module.exports = {
  id: 'W1',
  title: '2-2-1 sigmoid network on XOR, MSE, SGD lr 0.5, one sample per step',
  unit: 'steps/s',
  target: 0.3,
  cases,
};
