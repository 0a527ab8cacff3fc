#!/usr/bin/env node
// Writes test/fixtures/nodegrad-norm-state.safetensors: for every case of
// test/fixtures/torch-norm.json, nodegrad's BatchNorm state dict after the case's training
// steps (started from the case's PyTorch state), under the keys "<case index>.<name>".
// tools/make-torch-fixtures-norm.py then loads each strictly into the same PyTorch module and
// records what PyTorch computes with it in evaluation mode, which test/torch-norm.test.ts
// compares with nodegrad's own result.
//
//   npm run build:ts && node tools/write-norm-state.js && /usr/bin/python3 tools/make-torch-fixtures-norm.py
'use strict';
const path = require('node:path');

const ng = require('..');

const root = path.join(__dirname, '..');
const fixture = require(path.join(root, 'test', 'fixtures', 'torch-norm.json'));

/** A stored tensor, or num_batches_tracked's plain count, as a nodegrad tensor. */
function stored(value) {
  if (typeof value === 'number') return ng.tensor(value, { dtype: 'float64' });
  return ng.tensor(value.data, { shape: value.shape });
}

const dict = {};
fixture.batchNorm.forEach((c, i) => {
  const o = c.config;
  const layer = new ng.nn[o.kind](o.numFeatures, {
    eps: o.eps,
    momentum: o.momentum,
    affine: o.affine,
    trackRunningStats: o.trackRunningStats,
  });
  layer.loadStateDict(Object.fromEntries(Object.entries(c.state).map(([k, v]) => [k, stored(v)])));
  for (const s of c.train) layer.forward(stored(s.input));
  for (const [name, t] of Object.entries(layer.stateDict())) dict[`${i}.${name}`] = t;
});
const file = path.join(root, 'test', 'fixtures', 'nodegrad-norm-state.safetensors');
ng.save(dict, file);
console.log(`wrote ${path.relative(root, file)}: ${Object.keys(dict).length} tensors`);
