import { allocLike } from '../autograd/dispatch';
import { lstmLayer, type LstmWeights } from '../autograd/ops-sequence';
import { chunk, narrow, stack } from '../autograd/ops-shape';
import { checkInt, rangeError, shapeString, typeError, verbatim } from '../errors';
import { Tensor, zeros } from '../tensor';
import type { DType } from '../tensor';
import { linear } from './functional';
import { uniform_ } from './init';
import { Module } from './module';

/** Options shared by {@link RNN}, {@link LSTM} and {@link GRU}, with PyTorch's defaults. */
export interface RecurrentOptions {
  /** Stacked layers, each fed the previous one's outputs (default 1). */
  numLayers?: number;
  /** Input and hidden biases (default true). */
  bias?: boolean;
  /** Input and output as [batch, seq, feature] instead of [seq, batch, feature]. */
  batchFirst?: boolean;
  dtype?: DType;
}

/** The parameters of one layer: PyTorch's weight_ih_lK, weight_hh_lK, bias_ih_lK, bias_hh_lK. */
interface LayerWeights {
  wIh: Tensor;
  wHh: Tensor;
  bIh: Tensor | null;
  bHh: Tensor | null;
}

/**
 * The machinery of the three recurrent layers: PyTorch's parameter names, shapes and
 * initialisation U(-1/√hidden, 1/√hidden), the checks of the input and the initial state,
 * the batch-first transposes, and the loop over layers. Subclasses run one layer.
 */
abstract class RecurrentBase extends Module {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bias: boolean;
  readonly batchFirst: boolean;
  /** The parameters by layer; the same tensors are the module's named parameters. */
  private readonly layerWeights: LayerWeights[] = [];

  protected constructor(
    private readonly kind: string,
    gates: number,
    inputSize: number,
    hiddenSize: number,
    options: RecurrentOptions,
  ) {
    super();
    const { numLayers = 1, bias = true, batchFirst = false, dtype = 'float32' } = options;
    this.inputSize = checkInt(`${kind}(inputSize)`, inputSize, 1);
    this.hiddenSize = checkInt(`${kind}(hiddenSize)`, hiddenSize, 1);
    this.numLayers = checkInt(`${kind}(numLayers)`, numLayers, 1);
    if (typeof bias !== 'boolean') throw typeError(`${kind}(bias)`, 'a boolean', bias);
    if (typeof batchFirst !== 'boolean') {
      throw typeError(`${kind}(batchFirst)`, 'a boolean', batchFirst);
    }
    this.bias = bias;
    this.batchFirst = batchFirst;

    const bound = 1 / Math.sqrt(hiddenSize);
    const make = (name: string, shape: number[]) =>
      this.registerParameter(name, uniform_(zeros(shape, { dtype }), -bound, bound));
    for (let l = 0; l < this.numLayers; l++) {
      const input = l === 0 ? inputSize : hiddenSize;
      this.layerWeights.push({
        wIh: make(`weight_ih_l${l}`, [gates * hiddenSize, input]),
        wHh: make(`weight_hh_l${l}`, [gates * hiddenSize, hiddenSize]),
        bIh: bias ? make(`bias_ih_l${l}`, [gates * hiddenSize]) : null,
        bHh: bias ? make(`bias_hh_l${l}`, [gates * hiddenSize]) : null,
      });
    }
  }

  protected name(): string {
    return `${this.kind}(${this.inputSize}, ${this.hiddenSize})`;
  }

  /** x in the layer's layout → time-major [seq, batch, input], checked. */
  protected timeMajor(x: unknown): Tensor {
    if (!(x instanceof Tensor)) throw typeError(this.name(), 'a Tensor', x);
    const layout = this.batchFirst ? 'batch, seq' : 'seq, batch';
    if (x.ndim !== 3 || x.shape[2] !== this.inputSize || x.shape[this.batchFirst ? 1 : 0] < 1) {
      const expected = `input of shape [${layout}, ${this.inputSize}] with seq >= 1`;
      throw rangeError(this.name(), expected, verbatim(shapeString(x.shape)));
    }
    // The LSTM op multiplies the raw arrays: mixed dtypes would compute (and return) float64.
    const dtype = this.layerWeights[0].wIh.dtype;
    if (x.dtype !== dtype) throw rangeError(this.name(), `a ${dtype} tensor`, verbatim(x.dtype));
    return this.batchFirst ? x.transpose(0, 1) : x;
  }

  /** The output [seq, batch, hidden] back in the layer's layout. */
  protected layout(output: Tensor): Tensor {
    return this.batchFirst ? output.transpose(0, 1) : output;
  }

  /** An initial state [numLayers, batch, hidden], checked, split by layer (zeros if absent). */
  protected initialState(what: string, state: unknown, x: Tensor): Tensor[] {
    const batch = x.shape[1];
    const shape = [this.numLayers, batch, this.hiddenSize];
    if (state === undefined || state === null) {
      const zero = new Tensor(allocLike(x.data, batch * this.hiddenSize), [batch, this.hiddenSize]);
      return new Array<Tensor>(this.numLayers).fill(zero);
    }
    if (!(state instanceof Tensor)) throw typeError(`${this.name()}(${what})`, 'a Tensor', state);
    if (state.ndim !== 3 || state.shape.some((d, i) => d !== shape[i])) {
      throw rangeError(
        `${this.name()}(${what})`,
        `shape ${shapeString(shape)}`,
        verbatim(shapeString(state.shape)),
      );
    }
    if (state.dtype !== x.dtype) {
      throw rangeError(`${this.name()}(${what})`, `a ${x.dtype} tensor`, verbatim(state.dtype));
    }
    return Array.from({ length: this.numLayers }, (_, l) =>
      narrow(state, 0, l, 1).reshape([batch, this.hiddenSize]),
    );
  }

  protected weights(layer: number): LayerWeights {
    return this.layerWeights[layer];
  }

  protected override extraRepr(): string {
    const parts = [`${this.inputSize}, ${this.hiddenSize}`];
    if (this.numLayers !== 1) parts.push(`num_layers=${this.numLayers}`);
    if (!this.bias) parts.push('bias=False');
    if (this.batchFirst) parts.push('batch_first=True');
    return parts.join(', ');
  }
}

/**
 * An Elman RNN, as torch.nn.RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or
 * relu), over numLayers stacked layers. `forward` returns the output of the last layer at
 * every step; `forwardWithState` returns [output, h_n] as PyTorch does.
 *
 * @example
 * const rnn = new RNN(8, 16, { batchFirst: true });
 * const [output, hN] = rnn.forwardWithState(randn([4, 10, 8])); // [4, 10, 16], [1, 4, 16]
 */
export class RNN extends RecurrentBase {
  readonly nonlinearity: 'tanh' | 'relu';

  constructor(
    inputSize: number,
    hiddenSize: number,
    options: RecurrentOptions & { nonlinearity?: 'tanh' | 'relu' } = {},
  ) {
    super('RNN', 1, inputSize, hiddenSize, options);
    const { nonlinearity = 'tanh' } = options;
    if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') {
      throw rangeError('RNN(nonlinearity)', "'tanh' or 'relu'", nonlinearity);
    }
    this.nonlinearity = nonlinearity;
  }

  /** The last layer's output at every step, in the input's layout. */
  forward(x: Tensor, h0?: Tensor): Tensor {
    return this.forwardWithState(x, h0)[0];
  }

  /** [output, h_n]: h_n [numLayers, batch, hidden] is each layer's last state. */
  forwardWithState(x: Tensor, h0?: Tensor): [Tensor, Tensor] {
    let seq = this.timeMajor(x);
    const initial = this.initialState('h0', h0, seq);
    const act = this.nonlinearity === 'tanh' ? (t: Tensor) => t.tanh() : (t: Tensor) => t.relu();
    const finals: Tensor[] = [];
    for (let l = 0; l < this.numLayers; l++) {
      const w = this.weights(l);
      let h = initial[l];
      const outputs = inputProducts(seq, w).map((xt) => (h = act(xt.add(linear(h, w.wHh, w.bHh)))));
      finals.push(h);
      seq = stack(outputs, 0);
    }
    return [this.layout(seq), stack(finals, 0)];
  }

  protected override extraRepr(): string {
    const tail = this.nonlinearity === 'relu' ? ", nonlinearity='relu'" : '';
    return super.extraRepr() + tail;
  }
}

/**
 * A gated recurrent unit network, as torch.nn.GRU, PyTorch's gate order (r, z, n):
 * r = σ(x W_ir + b_ir + h W_hr + b_hr), z = σ(x W_iz + b_iz + h W_hz + b_hz),
 * n = tanh(x W_in + b_in + r ⊙ (h W_hn + b_hn)), h' = (1 - z) ⊙ n + z ⊙ h.
 *
 * @example
 * const gru = new GRU(8, 16, { numLayers: 2 });
 * const [output, hN] = gru.forwardWithState(randn([10, 4, 8])); // [10, 4, 16], [2, 4, 16]
 */
export class GRU extends RecurrentBase {
  constructor(inputSize: number, hiddenSize: number, options: RecurrentOptions = {}) {
    super('GRU', 3, inputSize, hiddenSize, options);
  }

  forward(x: Tensor, h0?: Tensor): Tensor {
    return this.forwardWithState(x, h0)[0];
  }

  /** [output, h_n], as PyTorch's GRU returns. */
  forwardWithState(x: Tensor, h0?: Tensor): [Tensor, Tensor] {
    let seq = this.timeMajor(x);
    const initial = this.initialState('h0', h0, seq);
    const finals: Tensor[] = [];
    for (let l = 0; l < this.numLayers; l++) {
      const w = this.weights(l);
      let h = initial[l];
      const outputs = inputProducts(seq, w).map((xt) => (h = gruCell(xt, h, w)));
      finals.push(h);
      seq = stack(outputs, 0);
    }
    return [this.layout(seq), stack(finals, 0)];
  }
}

/** One GRU step from the input products xt = x W_ih^T + b_ih [batch, 3H] and h [batch, H]. */
function gruCell(xt: Tensor, h: Tensor, w: LayerWeights): Tensor {
  const [xr, xz, xn] = chunk(xt, 3, 1);
  const [hr, hz, hn] = chunk(linear(h, w.wHh, w.bHh), 3, 1);
  const r = xr.add(hr).sigmoid();
  const z = xz.add(hz).sigmoid();
  const n = xn.add(r.mul(hn)).tanh();
  return n.add(z.mul(h.sub(n))); // (1 - z) n + z h
}

/** x W_ih^T + b_ih for every step at once, returned step by step: [batch, gates * H] each. */
function inputProducts(seq: Tensor, w: LayerWeights): Tensor[] {
  const [steps, batch, input] = seq.shape;
  const all = linear(seq.reshape([steps * batch, input]), w.wIh, w.bIh);
  return Array.from({ length: steps }, (_, t) => narrow(all, 0, t * batch, batch));
}

/** Each layer's last state [batch, hidden] stacked to [numLayers, batch, hidden]. */
function stackStates(states: Tensor[]): Tensor {
  // One layer's is a view of the layer's packed output; reshaping keeps it one.
  return states.length === 1 ? states[0].reshape([1, ...states[0].shape]) : stack(states, 0);
}

/**
 * A long short-term memory network, as torch.nn.LSTM, PyTorch's gate order (i, f, g, o):
 * c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g), h' = σ(o) ⊙ tanh(c'). Each layer runs as one op on the
 * fused native LSTM cell, forward and backward through time. `forwardWithState` returns
 * [output, [h_n, c_n]] as PyTorch does.
 *
 * @example
 * const lstm = new LSTM(28, 128, { batchFirst: true });
 * const [output, [hN, cN]] = lstm.forwardWithState(randn([64, 28, 28]));
 */
export class LSTM extends RecurrentBase {
  constructor(inputSize: number, hiddenSize: number, options: RecurrentOptions = {}) {
    super('LSTM', 4, inputSize, hiddenSize, options);
  }

  forward(x: Tensor, state?: [Tensor, Tensor]): Tensor {
    return this.forwardWithState(x, state)[0];
  }

  /** [output, [h_n, c_n]]; the optional state is [h0, c0], each [numLayers, batch, hidden]. */
  forwardWithState(x: Tensor, state?: [Tensor, Tensor]): [Tensor, [Tensor, Tensor]] {
    let seq = this.timeMajor(x);
    if (state !== undefined && (!Array.isArray(state) || state.length !== 2)) {
      throw typeError(`${this.name()}(state)`, 'a pair [h0, c0]', state);
    }
    const h0 = this.initialState('h0', state?.[0], seq);
    const c0 = this.initialState('c0', state?.[1], seq);
    const hs: Tensor[] = [];
    const cs: Tensor[] = [];
    for (let l = 0; l < this.numLayers; l++) {
      const { output, hN, cN } = lstmLayer(seq, h0[l], c0[l], this.weights(l) as LstmWeights);
      seq = output;
      hs.push(hN);
      cs.push(cN);
    }
    return [this.layout(seq), [stackStates(hs), stackStates(cs)]];
  }
}
