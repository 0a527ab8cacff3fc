'use strict';
// The registry of workloads, in the order the table prints them. To add one, write
// workloads/wN-name.js exporting { id, title, unit, lowerIsBetter?, target?, cases(ctx),
// format?(rows, ctx) } (see w1-xor.js for a small example) and add it here.

module.exports = [
  require('./w0-op-overhead'),
  require('./w1-xor'),
  require('./w2-mlp'),
  require('./w3-sgemm'),
  require('./w4-cnn'),
  require('./w5-lstm'),
  require('./w6-gpt'),
];
