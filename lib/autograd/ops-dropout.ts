/**
 * Inverted dropout: in training each element is zeroed with probability p and the survivors
 * scaled by 1 / (1 - p), so the expected value is unchanged and evaluation needs no rescaling.
 */
import { rangeError, typeError } from '../errors';
import { defaultGenerator, Generator } from '../tensor/random';
import { Tensor } from '../tensor/tensor';
import { allocLike, backendFor } from './dispatch';
import { record } from './engine';

/** Throws unless p is a probability, as PyTorch's dropout does. */
export function checkDropoutProbability(where: string, p: unknown): number {
  if (typeof p !== 'number') throw typeError(where, 'a probability in [0, 1]', p);
  if (!(p >= 0 && p <= 1)) throw rangeError(where, 'a probability in [0, 1]', p);
  return p;
}

/**
 * Dropout, as torch.nn.functional.dropout: with training, each element of x is kept with
 * probability 1 - p and multiplied by 1 / (1 - p), or set to 0 (p = 1 zeroes everything);
 * without training, or with p = 0, x itself is returned. The mask is drawn from `generator`
 * (the global one, seeded by manualSeed, by default), one number per element, so a seeded run
 * repeats; the gradient is the upstream gradient times the same mask.
 *
 * @example
 * manualSeed(0);
 * dropout(ones([2, 4]), 0.5).toArray(); // each element 0 or 2, the same on every run
 */
export function dropout(
  x: Tensor,
  p = 0.5,
  training = true,
  generator: Generator = defaultGenerator,
): Tensor {
  if (!(x instanceof Tensor)) throw typeError('dropout(input)', 'a Tensor', x);
  checkDropoutProbability('dropout(p)', p);
  if (typeof training !== 'boolean') throw typeError('dropout(training)', 'a boolean', training);
  if (!(generator instanceof Generator)) {
    throw typeError('dropout(generator)', 'a Generator', generator);
  }
  if (!training || p === 0) return x;

  // The mask holds the factor of each element: 0, or the kept elements' scale.
  const scale = p === 1 ? 0 : 1 / (1 - p);
  const mask = allocLike(x.data, x.numel);
  for (let i = 0; i < mask.length; i++) mask[i] = generator.float() < p ? 0 : scale;
  const y = new Tensor(allocLike(x.data, x.numel), x.shape);
  backendFor(x.data).binaryForward('mul', x.data, x.shape, mask, x.shape, y.data, x.shape);

  return record(y, 'dropout', [x], (g) => {
    const gx = allocLike(g, g.length);
    backendFor(g).binaryForward('mul', g, x.shape, mask, x.shape, gx, x.shape);
    return [gx];
  });
}
