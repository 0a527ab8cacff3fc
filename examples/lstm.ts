/**
 * An LSTM reads each MNIST digit as a sequence: the 28 rows of the image, one 28-pixel row per
 * step, and a linear layer classifies the last hidden state (MnistLstm in
 * lib/cli/mnist-models.ts: `new LSTM(28, 128, { batchFirst: true })`, then `lstm.forwardWithState`
 * and a Linear(128, 10) on h_n). Trains on all 8,000 training digits with Adam and a cosine
 * schedule, as `nodegrad train mnist --model lstm` does:
 *
 *   npx tsx examples/lstm.ts [epochs]
 *
 * (The example imports from ../lib; in a project of your own, import from 'nodegrad'.)
 */
import { DataLoader, TensorDataset, mnist } from '../lib/data';
import { MnistLstm } from '../lib/cli/mnist-models';
import { crossEntropy } from '../lib/nn';
import { Adam, CosineAnnealingLR } from '../lib/optim';
import { manualSeed, type Tensor } from '../lib/tensor';
import { fit } from '../lib/train';

async function main(epochs: number): Promise<void> {
  manualSeed(0);
  const standardize = (t: Tensor) => t.sub(0.1307).div(0.3081);
  const train = mnist({ split: 'train' });
  const test = mnist({ split: 'test' });
  const loader = (images: Tensor, labels: Int32Array, shuffle: boolean) =>
    new DataLoader(new TensorDataset(standardize(images), labels), { batchSize: 64, shuffle });

  const model = new MnistLstm();
  const optimizer = new Adam(model.parameters(), { lr: 2e-3 });
  // The learning rate follows half a cosine from 2e-3 down to 0 over the run.
  const schedule = new CosineAnnealingLR(optimizer, { tMax: epochs });
  const started = Date.now();
  await fit(model, loader(train.images, train.labels, true), {
    epochs,
    optimizer,
    loss: crossEntropy,
    metrics: ['accuracy'],
    validation: loader(test.images, test.labels, false),
    callbacks: {
      onEpochEnd: (epoch, logs) => {
        schedule.step();
        console.log(
          `epoch ${epoch + 1}/${epochs}  loss ${logs.loss.toFixed(4)}  ` +
            `test acc ${(100 * logs.valAccuracy!).toFixed(2)}%  ` +
            `${Math.round(logs.samplesPerSec)} samples/s  ${(Date.now() - started) / 1000}s`,
        );
      },
    },
  });
}

void main(Number(process.argv[2] ?? 8));
