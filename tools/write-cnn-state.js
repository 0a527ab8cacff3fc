#!/usr/bin/env node
// Writes test/fixtures/nodegrad-cnn-state.safetensors: the state dict of a freshly initialised
// nodegrad layer for every case of test/fixtures/torch-cnn.json that has parameters, under the
// keys "<case index>.<parameter name>". tools/make-torch-fixtures-cnn.py then loads each into
// the same PyTorch module (strictly: the names and shapes must match) and records what PyTorch
// computes with it, which test/torch-cnn.test.ts compares with nodegrad's own result.
//
//   npm run build:ts && node tools/write-cnn-state.js &&
//     /usr/bin/python3 tools/make-torch-fixtures-cnn.py
'use strict';
const path = require('node:path');

const ng = require('..');

const root = path.join(__dirname, '..');
const fixture = require(path.join(root, 'test', 'fixtures', 'torch-cnn.json'));

/** The nodegrad layer of a fixture case, as test/torch-cnn.test.ts builds it. */
function layerOf(c) {
  const nn = ng.nn;
  // Flatten and AdaptiveAvgPool2d take positional arguments only.
  const options = c.kind === 'Flatten' || c.kind === 'AdaptiveAvgPool2d' ? [] : [c.options];
  if (c.kind !== 'CNN') return new nn[c.kind](...c.args, ...options);
  return new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1 }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(4, 6, 3, { groups: 2 }),
    new nn.ReLU(),
    new nn.AvgPool2d(2, { stride: 1 }),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(6, 3),
  );
}

ng.manualSeed(2026);
const dict = {};
fixture.layers.forEach((c, i) => {
  if (Object.keys(c.state).length === 0) return;
  for (const [name, t] of Object.entries(layerOf(c).stateDict())) dict[`${i}.${name}`] = t;
});
const file = path.join(root, 'test', 'fixtures', 'nodegrad-cnn-state.safetensors');
ng.save(dict, file);
console.log(`wrote ${path.relative(root, file)}: ${Object.keys(dict).length} tensors`);
