'use strict';
// W0: what one op costs when the arithmetic is nothing: an add of two 1-element tensors,
// forward only (inputs without gradients) and forward + backward (inputs that require them).

const { ng } = require('../lib/context');
const { nodegrad, tensorflow, pythonPeers } = require('../lib/peers');

function nodegradAdd(backend, backward) {
  return nodegrad(backend, 'auto', () => {
    const a = ng.tensor([1], { requiresGrad: backward });
    const b = ng.tensor([1], { requiresGrad: backward });
    return backward ? () => a.add(b).backward() : () => a.add(b);
  });
}

function tfjsAdd(backend, backward) {
  return tensorflow(backend, (tf) => {
    const a = tf.tensor1d([1]);
    const b = tf.tensor1d([1]);
    const grads = tf.grads((x, y) => tf.add(x, y));
    const step = backward
      ? () => grads([a, b]).forEach((g) => g.dispose())
      : () => tf.add(a, b).dispose();
    return { step, dispose: () => tf.dispose([a, b]) };
  });
}

function cases(ctx) {
  return [false, true].map((backward) => ({
    label: backward ? 'forward + backward' : 'forward',
    start: 1000,
    value: (count, s) => (s / count) * 1e6,
    peers: [
      nodegradAdd('native', backward),
      nodegradAdd('reference', backward),
      tfjsAdd('cpu', backward),
      tfjsAdd('wasm', backward),
      ...pythonPeers(ctx, 'W0', { backward }, { numpy: !backward, threads: [1] }),
    ],
  }));
}

module.exports = {
  id: 'W0',
  title: 'per-op overhead: an add of two 1-element tensors',
  unit: 'µs/op',
  lowerIsBetter: true,
  target: 0.2,
  cases,
};
