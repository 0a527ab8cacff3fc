/**
 * Ops of the sequence layers, each one node of the graph with a backward written out: the
 * embedding lookup, and a whole LSTM layer run over a sequence on the fused cell kernels
 * (forward and backward through time), so a 28-step sequence costs a few kernel calls per step
 * rather than a dozen recorded ops.
 */
import type { FloatArray } from '../backend/backend';
import { Tensor } from '../tensor/tensor';
import { numel } from '../tensor/shape';
import { allocLike, allocOutput, backendFor, matmulInto } from './dispatch';
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

/**
 * One LSTM layer over a time-major sequence x [T, B, I] from the states h0, c0 [B, H].
 * Returns one tensor [T + 1, B, H]: h_1 ... h_T, then c_T (the caller slices it), so a single
 * node carries the gradients of the outputs and of the final cell state back through time.
 *
 * Forward: the input products of every step in one GEMM, then per step one GEMM adding
 * h_{t-1} W_hh^T and the fused cell. Backward: per step the fused cell backward and one GEMM
 * for the gradient of h_{t-1}; then one GEMM each for the gradients of x, W_ih and W_hh.
 */
export function lstmLayer(x: Tensor, h0: Tensor, c0: Tensor, w: LstmWeights): Tensor {
  const [T, B, I] = x.shape;
  const H = w.wHh.shape[1];
  const G = 4 * H;
  const BH = B * H;
  const be = backendFor(x.data);

  // Step 1: the input products of every step, [T * B, 4H].
  const gates = allocLike(x.data, T * B * G);
  matmulInto(false, true, T * B, G, I, x.data, w.wIh.data, gates);
  const bias = allocLike(x.data, G);
  if (w.bIh !== null) bias.set(w.bIh.data);
  if (w.bHh !== null) be.binaryForward('add', bias, [G], w.bHh.data, [G], bias, [G]);

  // Step 2: the recurrence. hs and cs keep every state (row 0 the initial one) for backward.
  const hs = allocLike(x.data, (T + 1) * BH);
  const cs = allocLike(x.data, (T + 1) * BH);
  hs.set(h0.data);
  cs.set(c0.data);
  for (let t = 0; t < T; t++) {
    const gt = gates.subarray(t * B * G, (t + 1) * B * G);
    be.gemm(false, true, B, G, H, 1, hs.subarray(t * BH), H, w.wHh.data, H, 1, gt, G);
    const [cPrev, c, h] = [
      cs.subarray(t * BH),
      cs.subarray((t + 1) * BH),
      hs.subarray((t + 1) * BH),
    ];
    be.lstmCellForward(gt, bias, cPrev, B, H, gt, c, h);
  }

  // Step 3: the outputs h_1 ... h_T and the last cell state, packed.
  const out = new Tensor(allocLike(x.data, (T + 1) * BH), [T + 1, B, H]);
  out.data.set(hs.subarray(BH));
  out.data.set(cs.subarray(T * BH), T * BH);

  const inputs = [x, h0, c0, w.wIh, w.wHh];
  if (w.bIh !== null) inputs.push(w.bIh);
  if (w.bHh !== null) inputs.push(w.bHh);
  return record(out, 'lstm', inputs, (g) => {
    const back = lstmBackwardThroughTime(g, gates, hs, cs, w.wHh.data, T, B, H);
    return [
      ...lstmInputGradients(back, x, h0, c0, w, hs, T, B, H),
      ...biasGradients(back.dGates, w, T * B),
    ];
  });
}

/**
 * Runs the cells backward from the last step, from g, the gradient of lstmLayer's packed
 * output. Returns the gradient of every step's gate pre-activations [T * B, 4H] and that of c0.
 */
function lstmBackwardThroughTime(
  g: FloatArray,
  gates: FloatArray,
  hs: FloatArray,
  cs: FloatArray,
  wHh: FloatArray,
  T: number,
  B: number,
  H: number,
): { dGates: FloatArray; dc0: FloatArray } {
  const G = 4 * H;
  const BH = B * H;
  const be = backendFor(g);
  const dGates = allocLike(g, T * B * G);
  const dh = allocLike(g, BH);
  const dc = g.slice(T * BH, (T + 1) * BH);

  for (let t = T - 1; t >= 0; t--) {
    // The gradient of h_t: from the output, and from step t + 1 through W_hh.
    dh.set(g.subarray(t * BH, (t + 1) * BH));
    if (t < T - 1) {
      be.gemm(false, false, B, H, G, 1, dGates.subarray((t + 1) * B * G), G, wHh, H, 1, dh, H);
    }
    const gt = gates.subarray(t * B * G, (t + 1) * B * G);
    const dt = dGates.subarray(t * B * G, (t + 1) * B * G);
    be.lstmCellBackward(gt, cs.subarray(t * BH), cs.subarray((t + 1) * BH), dh, dc, B, H, dt, dc);
  }
  return { dGates, dc0: dc };
}

/** The gradients of x, h0, c0, W_ih and W_hh from those of the gates. */
function lstmInputGradients(
  back: { dGates: FloatArray; dc0: FloatArray },
  x: Tensor,
  h0: Tensor,
  c0: Tensor,
  w: LstmWeights,
  hs: FloatArray,
  T: number,
  B: number,
  H: number,
): (FloatArray | null)[] {
  const { dGates } = back;
  const G = 4 * H;
  const I = x.shape[2];
  const rows = T * B;
  let dx: FloatArray | null = null;
  let dh0: FloatArray | null = null;
  let dWih: FloatArray | null = null;
  let dWhh: FloatArray | null = null;
  if (x.requiresGrad) {
    dx = allocLike(dGates, rows * I); // dX = dG W_ih
    matmulInto(false, false, rows, I, G, dGates, w.wIh.data, dx);
  }
  if (h0.requiresGrad) {
    dh0 = allocLike(dGates, B * H); // dh0 = dG_0 W_hh
    matmulInto(false, false, B, H, G, dGates, w.wHh.data, dh0);
  }
  if (w.wIh.requiresGrad) {
    dWih = allocLike(dGates, G * I); // dW_ih = dG^T X
    matmulInto(true, false, G, I, rows, dGates, x.data, dWih);
  }
  if (w.wHh.requiresGrad) {
    dWhh = allocLike(dGates, G * H); // dW_hh = dG^T [h_0 ... h_{T-1}]
    matmulInto(true, false, G, H, rows, dGates, hs, dWhh);
  }
  return [dx, dh0, c0.requiresGrad ? back.dc0 : null, dWih, dWhh];
}

/** Both biases enter as one sum, so both get the column sums of the gates' gradient. */
function biasGradients(dGates: FloatArray, w: LstmWeights, rows: number): FloatArray[] {
  const G = w.wHh.shape[0];
  const db = allocLike(dGates, G);
  backendFor(db).columnSum(dGates, rows, G, db);
  const grads: FloatArray[] = [];
  if (w.bIh !== null) grads.push(db);
  if (w.bHh !== null) grads.push(db);
  return grads;
}
