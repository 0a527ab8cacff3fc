/**
 * Linear followed by ReLU, Sigmoid or Tanh as one op on the tape, which Sequential uses when a
 * Linear is directly followed by one of them (as in the main job's MLP and the 2-2-1 network):
 * the product, the bias and the activation go into one output array, and one backward turns
 * the output's gradient into the pre-activation's before the product's gradients. The kernels
 * and their order are the unfused ones', so the results are the same bit for bit; what goes
 * is a tensor, a graph node and an array per layer and step, which on a tiny network is most
 * of the cost (bench/NOTES.md).
 */
import { allocLike, allocOutput, backendFor, matmulInto } from '../autograd/dispatch';
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
  const gz = allocOutput(g, g.length);
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

  if (batch * outFeatures <= TINY_OUTPUTS && batch * outFeatures * inFeatures <= TINY_WORK) {
    return tinyLinearActivation(layer, kind, x);
  }
  const y = new Tensor(allocOutput(x.data, batch * outFeatures), [batch, outFeatures]);
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
      gx = allocOutput(g, batch * inFeatures); // dX = Gz W
      matmulInto(false, false, batch, inFeatures, outFeatures, gz, weight.data, gx);
    }
    if (weight.requiresGrad) {
      gw = allocOutput(g, outFeatures * inFeatures); // dW = Gzᵀ X
      matmulInto(true, false, outFeatures, inFeatures, batch, gz, x.data, gw);
    }
    if (bias?.requiresGrad) {
      gb = allocLike(g, outFeatures); // db = column sums of Gz
      be.columnSum(gz, batch, outFeatures, gb);
    }
    return [gx, gw, gb];
  });
}

/**
 * The most multiply-adds, and outputs, at which a layer runs as the loops below: the sizes
 * under which backendFor() sends the product and the activation to the reference backend
 * anyway (autograd/dispatch.ts), so only the calls and their argument checks go, not a native
 * kernel, and the results stay the unfused modules' on either backend.
 */
const TINY_WORK = 64;
const TINY_OUTPUTS = 16;

/** The activation of one pre-activation value, as the reference backend's kernels compute it. */
function activateValue(kind: FusedActivation, z: number): number {
  if (kind === 'relu') return z > 0 || z !== z ? z : 0;
  if (kind === 'sigmoid') {
    if (z >= 0) return 1 / (1 + Math.exp(-z));
    const e = Math.exp(z);
    return e / (1 + e);
  }
  return Math.tanh(z);
}

/** The pre-activation's gradient at one output y with gradient g (the kernels' formulas). */
function deactivateValue(kind: FusedActivation, y: number, g: number): number {
  if (kind === 'relu') return y > 0 ? g : 0;
  if (kind === 'sigmoid') return g * y * (1 - y);
  return g * (1 - y * y);
}

/**
 * linearActivation for layers of a few multiply-adds (the 2-2-1 network's), in plain loops
 * that do what the reference backend's gemm, biasAdd, activation, columnSum kernels do, in
 * their order: each sum in double from zero over the same index order, each stored result
 * rounded to the array's type before the next step reads it. Same numbers bit for bit, without
 * a dozen kernel calls (each with its argument checks) per layer and step.
 */
function tinyLinearActivation(layer: Linear, kind: FusedActivation, x: Tensor): Tensor {
  const { weight, bias, inFeatures: k, outFeatures: n } = layer;
  const m = x.shape[0];
  const xd = x.data;
  const w = weight.data;
  const yd = allocLike(xd, m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += xd[i * k + p] * w[j * k + p];
      const at = i * n + j;
      yd[at] = sum;
      if (bias !== null) yd[at] = yd[at] + bias.data[j];
      yd[at] = activateValue(kind, yd[at]);
    }
  }
  const y = new Tensor(yd, [m, n]);
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(y, `linear+${kind}`, inputs, (g) => {
    const gz = allocLike(g, g.length);
    for (let i = 0; i < g.length; i++) gz[i] = deactivateValue(kind, yd[i], g[i]);
    const gx = x.requiresGrad ? tinyProduct(gz, w, m, n, k, false) : null; // dX = Gz W
    const gw = weight.requiresGrad ? tinyProduct(gz, xd, m, n, k, true) : null; // dW = Gzᵀ X
    let gb: FloatArray | null = null;
    if (bias?.requiresGrad) {
      gb = allocLike(g, n); // db = column sums of Gz
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let i = 0; i < m; i++) sum += gz[i * n + j];
        gb[j] = sum;
      }
    }
    return [gx, gw, gb];
  });
}

/**
 * For gz [m, n]: gz · b with b [n, k] (dX = Gz W), or, transposed, gzᵀ · b with b [m, k]
 * (dW = Gzᵀ X): each sum in double over the inner index in order, as the gemm kernel does.
 */
function tinyProduct(
  gz: FloatArray,
  b: FloatArray,
  m: number,
  n: number,
  k: number,
  transposed: boolean,
): FloatArray {
  const rows = transposed ? n : m;
  const inner = transposed ? m : n;
  const out = allocLike(gz, rows * k);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < k; c++) {
      let sum = 0;
      for (let p = 0; p < inner; p++) {
        const a = transposed ? gz[p * n + r] : gz[r * n + p];
        sum += a * b[p * k + c];
      }
      out[r * k + c] = sum;
    }
  }
  return out;
}
