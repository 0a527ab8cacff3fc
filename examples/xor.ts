/**
 * The 2-2-1 network of the backpropagation derivation, trained on XOR: two inputs, two sigmoid
 * hidden units, one sigmoid output, the loss J = ½ Σ (ŷ − y)² over the four patterns, and plain
 * gradient descent w ← w − η ∂J/∂w written out by hand.
 *
 * Run it with `npx tsx examples/xor.ts`.
 */
import { Tensor, manualSeed, noGrad, tensor } from '../lib/tensor';
import { Linear, Module, mseLoss } from '../lib/nn';

/** a¹ = σ(W¹x + b¹), ŷ = σ(w²·a¹ + b²). */
export class XorNet extends Module {
  hidden = new Linear(2, 2);
  output = new Linear(2, 1);

  forward(x: Tensor): Tensor {
    return this.output.forward(this.hidden.forward(x).sigmoid()).sigmoid();
  }
}

/** The four XOR patterns and their targets. */
export const XOR_INPUTS = [
  [0, 0],
  [0, 1],
  [1, 0],
  [1, 1],
];
export const XOR_TARGETS = [0, 1, 1, 0];

/** J = ½ Σ (ŷ − y)², summed over the batch. */
export function halfSquaredError(prediction: Tensor, target: Tensor): Tensor {
  return mseLoss(prediction, target, 'sum').mul(0.5);
}

export interface XorOptions {
  epochs?: number;
  learningRate?: number;
  seed?: number;
  /** Called every `logEvery` epochs with the loss. */
  onLog?: (epoch: number, loss: number) => void;
  logEvery?: number;
}

export interface XorResult {
  model: XorNet;
  /** The loss before each epoch's update. */
  losses: number[];
  /** ŷ for the four patterns after training, in the order of XOR_INPUTS. */
  predictions: number[];
}

/** Trains XorNet on the four patterns with full-batch gradient descent. */
export function trainXor({
  epochs = 4000,
  learningRate = 2,
  seed = 0,
  onLog,
  logEvery = 500,
}: XorOptions = {}): XorResult {
  manualSeed(seed);
  const model = new XorNet();
  const x = tensor(XOR_INPUTS);
  const y = tensor(XOR_TARGETS.map((t) => [t]));
  const losses: number[] = [];

  for (let epoch = 0; epoch < epochs; epoch++) {
    model.zeroGrad();
    const loss = halfSquaredError(model.forward(x), y);
    loss.backward();
    losses.push(loss.item());
    if (onLog !== undefined && epoch % logEvery === 0) onLog(epoch, losses[epoch]);

    // Plain gradient descent: w ← w − η ∂J/∂w.
    for (const p of model.parameters()) {
      const grad = p.grad!.data;
      for (let i = 0; i < p.data.length; i++) p.data[i] -= learningRate * grad[i];
    }
  }

  const predictions = Array.from(noGrad(() => model.forward(x)).data);
  return { model, losses, predictions };
}

function main(): void {
  const { losses, predictions } = trainXor({
    onLog: (epoch, loss) =>
      console.log(`epoch ${String(epoch).padStart(4)}  loss ${loss.toFixed(6)}`),
  });
  console.log(`final       loss ${losses[losses.length - 1].toFixed(6)}`);
  XOR_INPUTS.forEach(([a, b], i) => {
    console.log(`${a} xor ${b} = ${XOR_TARGETS[i]}   predicted ${predictions[i].toFixed(4)}`);
  });
}

if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) {
  main();
}
