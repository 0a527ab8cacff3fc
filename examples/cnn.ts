/**
 * A small convolutional network on the MNIST digits (MnistCnn in lib/cli/mnist-models.ts): two
 * stages of a 3x3 convolution (32, then 64 filters, padding 1), ReLU and a 2x2 max pool turn
 * each 28x28 image into 64 maps of 7x7, and a 3136-128-10 perceptron classifies them. Trains on all
 * 8,000 training digits with Adam and a cosine schedule, as `nodegrad train mnist --model cnn`
 * does:
 *
 *   npx tsx examples/cnn.ts [epochs]
 *
 * (The example imports from ../lib; in a project of your own, import from 'nodegrad'.)
 */
import { DataLoader, TensorDataset, mnist } from '../lib/data';
import { MnistCnn } from '../lib/cli/mnist-models';
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

  // MnistCnn takes the images as [batch, 784] and views them as [batch, 1, 28, 28].
  const model = new MnistCnn();
  const optimizer = new Adam(model.parameters(), { lr: 1e-3 });
  // The learning rate follows half a cosine from 1e-3 down to 0 over the run.
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

void main(Number(process.argv[2] ?? 10));
