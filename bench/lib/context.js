'use strict';
// What every workload shares: the library, the machine description, the training digits and
// initial weights written to files the python peer reads, and the peers that run in other
// processes.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
/** Files this run writes for the python peer; not committed (bench/.gitignore). */
const cacheDir = path.join(__dirname, '..', '.cache');

const ng = require(root);

/** The machine, as one line for the table's heading. */
function machineLine(python) {
  const info = ng.backendInfo();
  const blas = info.blas ?? {};
  const cpus = os.cpus();
  const torch = python?.info?.torch ? `; PyTorch ${python.info.torch}` : '';
  const numpy = python?.info?.numpy ? `, numpy ${python.info.numpy} (${python.info.blas})` : '';
  return (
    `${cpus[0].model}, ${cpus.length} cores; nodegrad SIMD ${info.simd} (CPU has ` +
    `${info.simdLevels.join(', ')}); BLAS OpenBLAS core ${blas.corename ?? '?'}, default ` +
    `threads 'auto' (one below 2^28 multiply-adds, up to ${blas.threads ?? '?'}); ` +
    `Node ${process.version}${torch}${numpy}`
  );
}

/** Writes a float32 or int32 array where python's numpy.fromfile reads it; returns the path. */
function writeArray(name, array) {
  fs.mkdirSync(cacheDir, { recursive: true });
  const file = path.join(cacheDir, name);
  fs.writeFileSync(file, Buffer.from(array.buffer, array.byteOffset, array.byteLength));
  return file;
}

/**
 * Writes a model's state dict (names as PyTorch's Sequential gives them: "0.weight", ...) as
 * raw float32 files with a JSON manifest; returns the manifest's path.
 */
function writeWeights(name, model) {
  const manifest = {};
  for (const [key, t] of Object.entries(model.stateDict())) {
    const file = `${name}.${key}.f32`;
    writeArray(file, t.data);
    manifest[key] = { file, shape: [...t.shape] };
  }
  const file = path.join(cacheDir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(manifest));
  return file;
}

let digits = null;

/**
 * The 8,000 training digits of the `mnist` package (nodegrad's split), once, with the files
 * the python peer reads them from.
 */
function trainingDigits() {
  if (digits !== null) return digits;
  const { images, labels } = ng.mnist({ split: 'train' });
  digits = {
    images,
    labels,
    samples: labels.length,
    files: {
      images: writeArray('mnist-train-images.f32', images.data),
      labels: writeArray('mnist-train-labels.i32', labels),
      samples: labels.length,
    },
  };
  return digits;
}

module.exports = { ng, root, machineLine, writeArray, writeWeights, trainingDigits };
