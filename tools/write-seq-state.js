#!/usr/bin/env node
// Writes test/fixtures/nodegrad-seq-state.safetensors: the state dict of a freshly initialised
// nodegrad layer for every layer case of test/fixtures/torch-seq.json, under the keys
// "<case index>.<parameter name>". tools/make-torch-fixtures-seq.py then loads each into the
// same PyTorch module (strictly: the names and shapes must match) and records what PyTorch
// computes with it, which test/torch-seq.test.ts compares with nodegrad's own result.
//
//   npm run build:ts && node tools/write-seq-state.js && /usr/bin/python3 tools/make-torch-fixtures-seq.py
'use strict';
const path = require('node:path');

const ng = require('..');

const root = path.join(__dirname, '..');
const fixture = require(path.join(root, 'test', 'fixtures', 'torch-seq.json'));

/** The nodegrad layer of a fixture case, as test/torch-seq.test.ts builds it. */
function layerOf(c) {
  const o = c.options;
  if (c.kind === 'Embedding') {
    return new ng.nn.Embedding(o.numEmbeddings, o.embeddingDim, { paddingIdx: o.paddingIdx });
  }
  const options = {
    numLayers: o.numLayers,
    bias: o.bias,
    batchFirst: o.batchFirst,
    nonlinearity: o.nonlinearity,
  };
  return new ng.nn[c.kind](o.inputSize, o.hiddenSize, options);
}

ng.manualSeed(2026);
const dict = {};
fixture.layers.forEach((c, i) => {
  for (const [name, t] of Object.entries(layerOf(c).stateDict())) dict[`${i}.${name}`] = t;
});
const file = path.join(root, 'test', 'fixtures', 'nodegrad-seq-state.safetensors');
ng.save(dict, file);
console.log(`wrote ${path.relative(root, file)}: ${Object.keys(dict).length} tensors`);
