/**
 * Linear followed by ReLU, Sigmoid or Tanh as one op on the tape, which Sequential uses when a
 * Linear is directly followed by one of them (as in the main job's MLP and the 2-2-1 network):
 * the product, the bias and the activation go into one output array, and one backward turns
 * the output's gradient into the pre-activation's before the product's gradients. The kernels
 * and their order are the unfused ones', so the results are the same bit for bit; what goes
 * is a tensor, a graph node and an array per layer and step, which on a tiny network is most
 * of the cost (bench/NOTES.md).
 */
import { allocLike, backendFor, matmulInto } from '../autograd/dispatch';
import { record } from '../autograd/engine';
import type { Backend, FloatArray } from '../backend/backend';
import { Tensor } from '../tensor/tensor';
import { ReLU, Sigmoid, Tanh } from './activation';
import { Linear } from './linear';
import type { Module } from './module';

export type FusedActivation = 'relu' | 'sigmoid' | 'tanh';

/** The activation a module computes, when it is exactly nn.ReLU, nn.Sigmoid or nn.Tanh. */
export function fusableActivation(module: Module): FusedActivation | null {
  const kind = module.constructor;
  if (kind === ReLU) return 'relu';
  if (kind === Sigmoid) return 'sigmoid';
  if (kind === Tanh) return 'tanh';
  return null;
}

function activate(backend: Backend, kind: FusedActivation, y: FloatArray): void {
  if (kind === 'relu') backend.reluForward(y, y, y.length);
  else if (kind === 'sigmoid') backend.sigmoidForward(y, y, y.length);
  else backend.tanhForward(y, y, y.length);
}

/**
 * The pre-activation's gradient from the output y = f(z) and its gradient g. ReLU's backward
 * reads its input only through z > 0, which is y > 0, so it runs on y like the others.
 */
function deactivate(backend: Backend, kind: FusedActivation, y: FloatArray, g: FloatArray) {
  const gz = allocLike(g, g.length);
  if (kind === 'relu') backend.reluBackward(y, g, gz, g.length);
  else if (kind === 'sigmoid') backend.sigmoidBackward(y, g, gz, g.length);
  else backend.tanhBackward(y, g, gz, g.length);
  return gz;
}

/** Whether layer.forward(x) would take the plain path (anything else: let it throw). */
function plainCase(layer: Linear, x: Tensor): boolean {
  const { weight, bias } = layer;
  return (
    x instanceof Tensor &&
    x.ndim === 2 &&
    x.shape[1] === layer.inFeatures &&
    weight instanceof Tensor &&
    weight.ndim === 2 &&
    weight.shape[0] === layer.outFeatures &&
    weight.shape[1] === layer.inFeatures &&
    weight.dtype === x.dtype &&
    (bias === null ||
      (bias instanceof Tensor &&
        bias.ndim === 1 &&
        bias.shape[0] === layer.outFeatures &&
        bias.dtype === x.dtype))
  );
}

/**
 * activation(layer.forward(x)) as one op, for a 2-D input; any other case (N-d input, a
 * mismatch that must throw layer's own error) goes through the modules themselves.
 */
export function linearActivation(
  layer: Linear,
  activation: Module,
  kind: FusedActivation,
  x: Tensor,
): Tensor {
  if (!plainCase(layer, x)) return activation.forward(layer.forward(x));
  const { weight, bias, inFeatures, outFeatures } = layer;
  const batch = x.shape[0];

  const y = new Tensor(allocLike(x.data, batch * outFeatures), [batch, outFeatures]);
  const backend = backendFor(y.data);
  matmulInto(false, true, batch, outFeatures, inFeatures, x.data, weight.data, y.data);
  if (bias !== null) backend.biasAdd(y.data, bias.data, batch, outFeatures, y.data);
  activate(backend, kind, y.data);

  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(y, `linear+${kind}`, inputs, (g) => {
    const be = backendFor(g);
    const gz = deactivate(be, kind, y.data, g);
    let gx: FloatArray | null = null;
    let gw: FloatArray | null = null;
    let gb: FloatArray | null = null;
    if (x.requiresGrad) {
      gx = allocLike(g, batch * inFeatures); // dX = Gz W
      matmulInto(false, false, batch, inFeatures, outFeatures, gz, weight.data, gx);
    }
    if (weight.requiresGrad) {
      gw = allocLike(g, outFeatures * inFeatures); // dW = Gzᵀ X
      matmulInto(true, false, outFeatures, inFeatures, batch, gz, x.data, gw);
    }
    if (bias?.requiresGrad) {
      gb = allocLike(g, outFeatures); // db = column sums of Gz
      be.columnSum(gz, batch, outFeatures, gb);
    }
    return [gx, gw, gb];
  });
}
