/**
 * Initialisation schemes, as torch.nn.init: each fills a tensor in place from the seeded
 * generator (the global one unless a Generator is given) and returns it. Names keep PyTorch's
 * trailing underscore for functions that change their argument.
 *
 * @example
 * const w = zeros([256, 784]);
 * init.kaimingUniform_(w, { nonlinearity: 'relu' });
 */
import { checkFinite, rangeError, shapeString, typeError, verbatim } from '../errors';
import { Tensor } from '../tensor';
import { defaultGenerator, Generator } from '../tensor/random';

/** The nonlinearities {@link calculateGain} knows, by PyTorch's names. */
export type Nonlinearity =
  'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** Which fan a kaiming scheme preserves the variance of. */
export type FanMode = 'fan_in' | 'fan_out';

export interface KaimingOptions {
  /** Negative slope of the leaky ReLU that follows (default 0). */
  a?: number;
  /** 'fan_in' (default) keeps the forward pass's variance, 'fan_out' the backward's. */
  mode?: FanMode;
  /** The nonlinearity that follows (default 'leaky_relu', as PyTorch). */
  nonlinearity?: Nonlinearity;
  generator?: Generator;
}

function checkTensor(where: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw typeError(where, 'a Tensor', t);
  return t;
}

function checkGenerator(where: string, g: unknown): Generator {
  if (!(g instanceof Generator)) throw typeError(where, 'a Generator', g);
  return g;
}

/**
 * The gain PyTorch recommends for a nonlinearity: 1 for linear, convolutions and sigmoid, 5/3
 * for tanh, √2 for ReLU, √(2 / (1 + slope²)) for leaky ReLU (slope 0.01 by default), 3/4 for
 * SELU.
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param === undefined ? 0.01 : checkFinite('calculateGain(param)', param);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
  }
  throw rangeError(
    'calculateGain(nonlinearity)',
    'one of linear, conv1d, conv2d, conv3d, sigmoid, tanh, relu, leaky_relu, selu',
    nonlinearity,
  );
}

/**
 * [fanIn, fanOut] of a weight of at least two dimensions: [out, in, ...kernel] has
 * fanIn = in * prod(kernel) and fanOut = out * prod(kernel).
 */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  checkTensor('calculateFanInAndFanOut(tensor)', t);
  if (t.ndim < 2) {
    throw rangeError(
      'calculateFanInAndFanOut(tensor)',
      'a tensor of at least 2 dimensions',
      verbatim(shapeString(t.shape)),
    );
  }
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return [t.shape[1] * receptive, t.shape[0] * receptive];
}

/** Fills t from U(low, high). */
export function uniform_(t: Tensor, low = 0, high = 1, generator = defaultGenerator): Tensor {
  checkTensor('uniform_(tensor)', t);
  checkFinite('uniform_(low)', low);
  checkFinite('uniform_(high)', high);
  if (high < low) throw rangeError('uniform_(high)', `a number >= low (${low})`, high);
  checkGenerator('uniform_(generator)', generator);
  for (let i = 0; i < t.numel; i++) t.data[i] = low + (high - low) * generator.float();
  return t;
}

/** Fills t from N(mean, std²). */
export function normal_(t: Tensor, mean = 0, std = 1, generator = defaultGenerator): Tensor {
  checkTensor('normal_(tensor)', t);
  checkFinite('normal_(mean)', mean);
  checkFinite('normal_(std)', std);
  if (std < 0) throw rangeError('normal_(std)', 'a number >= 0', std);
  checkGenerator('normal_(generator)', generator);
  for (let i = 0; i < t.numel; i++) t.data[i] = mean + std * generator.normal();
  return t;
}

/** Fills t with one value. */
export function constant_(t: Tensor, value: number): Tensor {
  checkTensor('constant_(tensor)', t);
  if (typeof value !== 'number') throw typeError('constant_(value)', 'a number', value);
  t.data.fill(value);
  return t;
}

/** Fills t with zeros. */
export function zeros_(t: Tensor): Tensor {
  return constant_(checkTensor('zeros_(tensor)', t), 0);
}

/** Fills t with ones. */
export function ones_(t: Tensor): Tensor {
  return constant_(checkTensor('ones_(tensor)', t), 1);
}

/** Xavier/Glorot uniform: U(-b, b) with b = gain * √(6 / (fanIn + fanOut)). */
export function xavierUniform_(t: Tensor, gain = 1, generator = defaultGenerator): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(checkTensor('xavierUniform_(tensor)', t));
  const bound = checkFinite('xavierUniform_(gain)', gain) * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound, generator);
}

/** Xavier/Glorot normal: N(0, std²) with std = gain * √(2 / (fanIn + fanOut)). */
export function xavierNormal_(t: Tensor, gain = 1, generator = defaultGenerator): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(checkTensor('xavierNormal_(tensor)', t));
  const std = checkFinite('xavierNormal_(gain)', gain) * Math.sqrt(2 / (fanIn + fanOut));
  return normal_(t, 0, std, generator);
}

/** The standard deviation a kaiming scheme aims at: gain / √fan. */
function kaimingStd(where: string, t: Tensor, o: KaimingOptions): number {
  const { a = 0, mode = 'fan_in', nonlinearity = 'leaky_relu' } = o;
  if (mode !== 'fan_in' && mode !== 'fan_out') {
    throw rangeError(`${where}(mode)`, "'fan_in' or 'fan_out'", mode);
  }
  const [fanIn, fanOut] = calculateFanInAndFanOut(checkTensor(`${where}(tensor)`, t));
  const fan = mode === 'fan_in' ? fanIn : fanOut;
  return calculateGain(nonlinearity, checkFinite(`${where}(a)`, a)) / Math.sqrt(fan);
}

/**
 * He/Kaiming uniform: U(-b, b) with b = √3 * gain / √fan, the gain that of the nonlinearity
 * (leaky ReLU with slope a by default, as PyTorch).
 */
export function kaimingUniform_(t: Tensor, options: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd('kaimingUniform_', t, options);
  return uniform_(t, -bound, bound, options.generator);
}

/** He/Kaiming normal: N(0, std²) with std = gain / √fan. */
export function kaimingNormal_(t: Tensor, options: KaimingOptions = {}): Tensor {
  return normal_(t, 0, kaimingStd('kaimingNormal_', t, options), options.generator);
}

/**
 * A (semi-)orthogonal matrix, as torch.nn.init.orthogonal_: t viewed as [rows, rest] gets the
 * Q of the QR decomposition of a Gaussian matrix, signs fixed so R has a positive diagonal,
 * times gain. Rows are orthonormal when rows <= rest, columns otherwise.
 */
export function orthogonal_(t: Tensor, gain = 1, generator = defaultGenerator): Tensor {
  checkTensor('orthogonal_(tensor)', t);
  if (t.ndim < 2) {
    throw rangeError(
      'orthogonal_(tensor)',
      'a tensor of at least 2 dimensions',
      verbatim(shapeString(t.shape)),
    );
  }
  checkFinite('orthogonal_(gain)', gain);
  checkGenerator('orthogonal_(generator)', generator);
  const rows = t.shape[0];
  const cols = t.numel / rows;
  if (t.numel === 0) return t;

  // Orthonormalise the vectors along the longer side, `count` vectors of length `size`.
  const count = Math.min(rows, cols);
  const size = Math.max(rows, cols);
  const q = Array.from({ length: count }, () =>
    Float64Array.from({ length: size }, () => generator.normal()),
  );
  gramSchmidt(q);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      t.data[r * cols + c] = gain * (rows < cols ? q[r][c] : q[c][r]);
    }
  }
  return t;
}

/**
 * Modified Gram–Schmidt, run twice per vector so float64 rounding leaves no visible
 * non-orthogonality. The result is Q of A = QR with R's diagonal positive.
 */
function gramSchmidt(vectors: Float64Array[]): void {
  vectors.forEach((v, k) => {
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < k; j++) {
        const u = vectors[j];
        let dot = 0;
        for (let i = 0; i < v.length; i++) dot += u[i] * v[i];
        for (let i = 0; i < v.length; i++) v[i] -= dot * u[i];
      }
    }
    let norm = 0;
    for (let i = 0; i < v.length; i++) norm += v[i] * v[i];
    norm = Math.sqrt(norm);
    for (let i = 0; i < v.length; i++) v[i] /= norm;
  });
}
