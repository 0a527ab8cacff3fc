/**
 * The same seed gives the same weights, bit for bit: an epoch of an MNIST MLP trained twice on
 * the native backend under the automatic thread policy and with threads fixed at 1 and at 2
 * (and twice on the reference backend).
 *
 * Across thread counts the weights are the same under auto, which runs every product below 2^28
 * multiply-adds on one thread. With threads fixed at 2, OpenBLAS 0.3.21 splits the products and
 * the last bits can change (README, "What nodegrad guarantees"; measured on this network's
 * products: with its Haswell kernels every split product differed from the one-thread one in
 * some elements, with its Cooperlake kernels those with K a multiple of 32 did not).
 */

import { afterAll, describe, expect, it } from 'vitest';

import { getBackend, nativeBackend, setBackend, threads } from '../lib/backend';
import type { BackendName } from '../lib/backend';
import { DataLoader, TensorDataset, mnist } from '../lib/data';
import { Linear, ReLU, Sequential, crossEntropy } from '../lib/nn';
import { Adam } from '../lib/optim';
import { Tensor, manualSeed } from '../lib/tensor';
import { fit } from '../lib/train';

const initialBackend = getBackend().name;
afterAll(() => {
  setBackend(initialBackend);
  threads('auto');
});

/** One epoch on `samples` digits in shuffled batches of 64; the weights as raw bits. */
async function epochWeights(backend: BackendName, samples = 1024): Promise<Uint32Array[]> {
  setBackend(backend);
  const { images, labels } = mnist({ split: 'train' });
  const x = images.data.slice(0, samples * 784);
  const data = new TensorDataset(new Tensor(x, [samples, 784]), labels.slice(0, samples));
  manualSeed(2026);
  const model = new Sequential(new Linear(784, 256), new ReLU(), new Linear(256, 10));
  await fit(model, new DataLoader(data, { batchSize: 64, shuffle: true }), {
    epochs: 1,
    optimizer: new Adam(model.parameters(), { lr: 1e-3 }),
    loss: crossEntropy,
  });
  return model.parameters().map((p) => new Uint32Array(Float32Array.from(p.data).buffer));
}

describe('determinism', () => {
  it.skipIf(nativeBackend() === null)(
    'native: the same weights run twice, under auto and with threads fixed at 1 and at 2',
    async () => {
      threads('auto');
      const auto = await epochWeights('native');
      expect(await epochWeights('native')).toEqual(auto);
      // Auto runs every product of this network on one thread: threads(1) changes nothing.
      threads(1);
      expect(await epochWeights('native')).toEqual(auto);
      // Two fixed threads split the products, which can change their last bits (README), but
      // the same way every run.
      threads(2);
      expect(threads()).toBe(2);
      const two = await epochWeights('native');
      expect(await epochWeights('native')).toEqual(two);
    },
    60_000,
  );

  it('reference: the same weights run twice', async () => {
    const first = await epochWeights('reference', 256);
    expect(await epochWeights('reference', 256)).toEqual(first);
  }, 60_000);
});
