/**
 * Ops of the sequence layers, each one node of the graph with a backward written out: the
 * embedding lookup, and a whole LSTM layer run over a sequence on the fused cell kernels
 * (forward and backward through time, each one backend call), so a 28-step sequence costs a
 * handful of kernel calls and graph nodes rather than a dozen recorded ops per step.
 */
import type { FloatArray } from '../backend/backend';
import { Tensor } from '../tensor/tensor';
import { numel } from '../tensor/shape';
import { allocLike, allocOutput, backendFor, matmulInto, recycle } from './dispatch';
import { record } from './engine';

/**
 * Rows of weight [num, dim] picked by indices: the output has shape [...shape, dim]. The
 * gradient of weight sums the upstream rows into the rows they came from, except the row
 * paddingIdx (-1: none), which gets none, as torch.nn.functional.embedding. The indices are
 * checked against num by the kernel.
 */
export function embedding(
  weight: Tensor,
  indices: Int32Array,
  shape: readonly number[],
  paddingIdx = -1,
): Tensor {
  const [num, dim] = weight.shape;
  const n = numel(shape);
  const out = new Tensor(allocOutput(weight.data, n * dim), [...shape, dim]);
  backendFor(weight.data).embeddingForward(weight.data, indices, n, dim, num, out.data);

  return record(out, 'embedding', [weight], (g) => {
    const gw = allocLike(g, num * dim);
    backendFor(g).embeddingBackward(g, indices, n, dim, num, paddingIdx, gw);
    return [gw];
  });
}

/** The parameters of one LSTM layer, PyTorch's shapes: wIh [4H, I], wHh [4H, H], biases [4H]. */
export interface LstmWeights {
  wIh: Tensor;
  wHh: Tensor;
  bIh: Tensor | null;
  bHh: Tensor | null;
}

/** One LSTM layer's outputs: h at every step [T, B, H], and the last h and c [B, H]. */
export interface LstmOutputs {
  output: Tensor;
  hN: Tensor;
  cN: Tensor;
}

/**
 * One LSTM layer over a time-major sequence x [T, B, I] from the states h0, c0 [B, H].
 *
 * Forward: the input products of every step in one GEMM, then the recurrence in one backend
 * call (per step a GEMM adding h_{t-1} W_hh^T and the fused cell). Backward: the recurrence
 * backward in one call, then over all steps at once one GEMM for the gradient of x and one
 * call for those of W_ih, W_hh and the biases.
 *
 * The op is one node of the graph, whose output packs [h_0, h_1 ... h_T, c_T] ([T + 2, B, H]);
 * the three tensors returned are views into it (no copies), each a node whose backward places
 * its gradient in a packed one. Only the views a loss uses cost anything in backward.
 */
export function lstmLayer(x: Tensor, h0: Tensor, c0: Tensor, w: LstmWeights): LstmOutputs {
  const [T, B, I] = x.shape;
  const H = w.wHh.shape[1];
  const G = 4 * H;
  const BH = B * H;

  // Step 1: the input products of every step, [T * B, 4H], and the two biases as one.
  const gates = allocOutput(x.data, T * B * G);
  matmulInto(false, true, T * B, G, I, x.data, w.wIh.data, gates);
  const bias = allocLike(x.data, G);
  if (w.bIh !== null) bias.set(w.bIh.data);
  if (w.bHh !== null) addInto(bias, w.bHh.data);

  // Step 2: the recurrence. hs (the packed output's first T + 1 rows) and cs keep every state,
  // row 0 the initial one, for the backward.
  const packed = allocOutput(x.data, (T + 2) * BH);
  const hs = packed.subarray(0, (T + 1) * BH);
  const cs = allocOutput(x.data, (T + 1) * BH);
  hs.set(h0.data);
  cs.set(c0.data);
  backendFor(x.data).lstmForward(gates, bias, w.wHh.data, T, B, H, hs, cs);
  packed.set(cs.subarray(T * BH), (T + 1) * BH);

  const inputs = [x, h0, c0, w.wIh, w.wHh];
  if (w.bIh !== null) inputs.push(w.bIh);
  if (w.bHh !== null) inputs.push(w.bHh);
  const whole = record(new Tensor(packed, [T + 2, B, H]), 'lstm', inputs, (g) => {
    // The gradients of h_1 ... h_T and of c_T, in arrays the kernel may overwrite.
    const gh = allocOutput(g, T * BH);
    gh.set(g.subarray(BH, (T + 1) * BH));
    const gc = g.slice((T + 1) * BH, (T + 2) * BH);
    const dGates = allocOutput(g, T * B * G);
    backendFor(g).lstmBackward(gates, cs, w.wHh.data, gh, T, B, H, dGates, gc);
    recycle(gh);
    const grads = [
      ...stateGradients(dGates, gc, x, h0, c0, w, T, B, H),
      ...parameterGradients(dGates, x, hs, w, T, B, H),
    ];
    recycle(dGates); // this function's own scratch, read for the last time above
    return grads;
  });
  return {
    output: part(whole, BH, [T, B, H]),
    hN: part(whole, T * BH, [B, H]),
    cN: part(whole, (T + 1) * BH, [B, H]),
  };
}

/** a += b, elementwise, for arrays of one length. */
function addInto(a: FloatArray, b: FloatArray): void {
  const shape = [a.length];
  backendFor(a).binaryForward('add', a, shape, b, shape, a, shape);
}

/**
 * The elements [offset, offset + numel(shape)) of whole, as a tensor sharing its memory; the
 * gradient goes back to those elements of a gradient of whole (zero elsewhere).
 */
function part(whole: Tensor, offset: number, shape: readonly number[]): Tensor {
  const n = numel(shape);
  const out = new Tensor(whole.data.subarray(offset, offset + n), shape);
  return record(out, 'lstm output', [whole], (g) => {
    const gw = allocOutput(g, whole.numel);
    gw.fill(0, 0, offset);
    gw.set(g, offset);
    gw.fill(0, offset + n);
    return [gw];
  });
}

/** The gradients of x, h0 and c0 from those of the gates and of c0 (gc0). */
function stateGradients(
  dGates: FloatArray,
  gc0: FloatArray,
  x: Tensor,
  h0: Tensor,
  c0: Tensor,
  w: LstmWeights,
  T: number,
  B: number,
  H: number,
): (FloatArray | null)[] {
  const G = 4 * H;
  const I = x.shape[2];
  let dx: FloatArray | null = null;
  let dh0: FloatArray | null = null;
  if (x.requiresGrad) {
    dx = allocOutput(dGates, T * B * I); // dX = dG W_ih
    matmulInto(false, false, T * B, I, G, dGates, w.wIh.data, dx);
  }
  if (h0.requiresGrad) {
    dh0 = allocOutput(dGates, B * H); // dh0 = dG_0 W_hh
    matmulInto(false, false, B, H, G, dGates, w.wHh.data, dh0);
  }
  return [dx, dh0, c0.requiresGrad ? gc0 : null];
}

/**
 * The gradients of W_ih, W_hh and the biases, from those of the gates over every step at once:
 * dW_ih = dG^T X, dW_hh = dG^T [h_0 ... h_{T-1}], and both biases (which enter as one sum) the
 * column sums of dG.
 */
function parameterGradients(
  dGates: FloatArray,
  x: Tensor,
  hs: FloatArray,
  w: LstmWeights,
  T: number,
  B: number,
  H: number,
): (FloatArray | null)[] {
  const [G, I] = [4 * H, x.shape[2]];
  const dWih = allocOutput(dGates, G * I);
  const dWhh = allocOutput(dGates, G * H);
  const db = allocLike(dGates, G);
  backendFor(dGates).lstmParamGradients(dGates, x.data, hs, T, B, I, H, dWih, dWhh, db);
  const grads = [w.wIh.requiresGrad ? dWih : null, w.wHh.requiresGrad ? dWhh : null];
  if (w.bIh !== null) grads.push(db);
  if (w.bHh !== null) grads.push(db);
  return grads;
}
