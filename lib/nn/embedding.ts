import { embedding as embeddingOp } from '../autograd/ops-sequence';
import { checkInt, rangeError, typeError } from '../errors';
import { Tensor, zeros } from '../tensor';
import type { DType, NestedArray } from '../tensor';
import { normal_ } from './init';
import { Module } from './module';

/**
 * Indices as an embedding takes them: an Int32Array (1-D, or with a shape), nested numbers, or
 * a tensor of whole numbers (its shape is the indices' shape).
 */
export type IndexInput = Int32Array | NestedArray | readonly number[] | Tensor;

/** Flattens nested integer arrays into an Int32Array and their shape. */
function toIndices(where: string, input: IndexInput, shape?: readonly number[]) {
  if (input instanceof Tensor) {
    const bad = input.data.findIndex((v) => !Number.isInteger(v));
    if (bad >= 0) throw typeError(`${where}(indices[${bad}])`, 'an integer', input.data[bad]);
    return { indices: Int32Array.from(input.data), shape: shape ?? input.shape };
  }
  if (input instanceof Int32Array) {
    const s = shape ?? [input.length];
    if (s.reduce((a, b) => a * b, 1) !== input.length) {
      throw rangeError(`${where}(shape)`, `a shape of ${input.length} elements`, [...s]);
    }
    return { indices: input, shape: s };
  }
  if (typeof input !== 'number' && !Array.isArray(input)) {
    throw typeError(`${where}(indices)`, 'an Int32Array or nested arrays of integers', input);
  }
  const flat: number[] = [];
  const dims: number[] = [];
  const walk = (v: NestedArray, depth: number) => {
    if (!Array.isArray(v)) {
      if (!Number.isInteger(v)) throw typeError(`${where}(indices)`, 'integer indices', v);
      flat.push(v);
      return;
    }
    if (dims.length === depth) dims.push(v.length);
    else if (dims[depth] !== v.length) {
      throw rangeError(`${where}(indices)`, 'a rectangular nested array', v.length);
    }
    for (const item of v) walk(item, depth + 1);
  };
  walk(input as NestedArray, 0);
  return { indices: Int32Array.from(flat), shape: shape ?? dims };
}

/**
 * A lookup table of numEmbeddings vectors of size embeddingDim, as torch.nn.Embedding: the
 * output has the indices' shape plus [embeddingDim]. The weight starts as N(0, 1) draws from
 * the seeded generator; the row paddingIdx (if given) starts at zero and gets no gradient.
 *
 * @example
 * const emb = new Embedding(10, 3, { paddingIdx: 0 });
 * emb.forward([[1, 2, 0], [4, 0, 9]]).shape; // [2, 3, 3]
 */
export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | null;
  weight: Tensor;

  constructor(
    numEmbeddings: number,
    embeddingDim: number,
    { paddingIdx = null, dtype = 'float32' }: { paddingIdx?: number | null; dtype?: DType } = {},
  ) {
    super();
    this.numEmbeddings = checkInt('Embedding(numEmbeddings)', numEmbeddings, 1);
    this.embeddingDim = checkInt('Embedding(embeddingDim)', embeddingDim, 1);
    if (paddingIdx !== null) {
      // A negative index counts from the end, as PyTorch allows.
      checkInt('Embedding(paddingIdx)', paddingIdx, -numEmbeddings, numEmbeddings - 1);
      paddingIdx = paddingIdx < 0 ? paddingIdx + numEmbeddings : paddingIdx;
    }
    this.paddingIdx = paddingIdx;

    this.weight = this.param(normal_(zeros([numEmbeddings, embeddingDim], { dtype })));
    if (paddingIdx !== null) {
      this.weight.data.fill(0, paddingIdx * embeddingDim, (paddingIdx + 1) * embeddingDim);
    }
  }

  /**
   * The rows of the weight named by indices. An Int32Array is 1-D unless shape says otherwise.
   * An index outside [0, numEmbeddings) throws a RangeError naming it.
   */
  forward(input: IndexInput, shape?: readonly number[]): Tensor {
    const where = `Embedding(${this.numEmbeddings}, ${this.embeddingDim})`;
    const { indices, shape: s } = toIndices(where, input, shape);
    for (let i = 0; i < indices.length; i++) {
      if (indices[i] < 0 || indices[i] >= this.numEmbeddings) {
        throw rangeError(
          `${where}(indices[${i}])`,
          `an index in [0, ${this.numEmbeddings})`,
          indices[i],
        );
      }
    }
    return embeddingOp(this.weight, indices, s, this.paddingIdx ?? -1);
  }

  protected override extraRepr(): string {
    const padding = this.paddingIdx === null ? '' : `, padding_idx=${this.paddingIdx}`;
    return `${this.numEmbeddings}, ${this.embeddingDim}${padding}`;
  }
}
