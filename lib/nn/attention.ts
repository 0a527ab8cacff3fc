import { scratch } from '../autograd/engine';
import { attentionHeads } from '../autograd/ops-attention';
import type { AttentionMasks, ProjectionView } from '../autograd/ops-attention';
import { checkInt, rangeError, shapeString, typeError, verbatim } from '../errors';
import { Tensor, zeros } from '../tensor';
import type { DType } from '../tensor';
import { linear } from './functional';
import { xavierUniform_ } from './init';
import { Linear } from './linear';
import { Module } from './module';

export type { AttentionMasks } from '../autograd/ops-attention';

export interface MultiheadAttentionOptions {
  /** Biases in the input and output projections; true by default. */
  bias?: boolean;
  /** Inputs and output as [batch, length, embedDim] (true) or [length, batch, embedDim]. */
  batchFirst?: boolean;
  dtype?: DType;
}

/**
 * Multi-head attention, PyTorch's `nn.MultiheadAttention` with its parameter names and
 * initialisation: `in_proj_weight` [3E, E] (Xavier-uniform), `in_proj_bias` [3E] (zeros) and
 * `out_proj` (a Linear whose bias starts at zero), so state dicts load either way.
 *
 * NOTE: forward returns the attention output only (PyTorch returns it with the averaged
 * attention weights), has no dropout, and a query whose keys are all masked gets zeros where
 * PyTorch 1.13 gives NaN. Masks carry no gradient.
 *
 * @example
 * const attn = new MultiheadAttention(128, 4, { batchFirst: true });
 * const y = attn.forward(x, x, x, { attnMask: causalMask(64) }); // x [batch, 64, 128]
 */
export class MultiheadAttention extends Module {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly batchFirst: boolean;
  in_proj_weight: Tensor;
  in_proj_bias: Tensor | null;
  out_proj: Linear;

  constructor(
    embedDim: number,
    numHeads: number,
    { bias = true, batchFirst = false, dtype = 'float32' }: MultiheadAttentionOptions = {},
  ) {
    super();
    this.embedDim = checkInt('MultiheadAttention(embedDim)', embedDim, 1);
    this.numHeads = checkInt('MultiheadAttention(numHeads)', numHeads, 1);
    if (embedDim % numHeads !== 0) {
      throw rangeError(
        'MultiheadAttention(numHeads)',
        `a divisor of embedDim ${embedDim}`,
        numHeads,
      );
    }
    if (typeof bias !== 'boolean') throw typeError('MultiheadAttention(bias)', 'a boolean', bias);
    if (typeof batchFirst !== 'boolean') {
      throw typeError('MultiheadAttention(batchFirst)', 'a boolean', batchFirst);
    }
    this.headDim = embedDim / numHeads;
    this.batchFirst = batchFirst;

    this.in_proj_weight = this.param(xavierUniform_(zeros([3 * embedDim, embedDim], { dtype })));
    this.in_proj_bias = bias ? this.param(zeros([3 * embedDim], { dtype })) : null;
    this.out_proj = new Linear(embedDim, embedDim, bias, { dtype });
    this.out_proj.bias?.data.fill(0);
  }

  /**
   * Attention of query [N, T, E] over key and value [N, S, E] (each [length, N, E] unless
   * batchFirst). Passing one tensor as query, key and value (self-attention) projects it once.
   */
  forward(
    query: Tensor,
    key: Tensor = query,
    value: Tensor = key,
    masks: AttentionMasks = {},
  ): Tensor {
    for (const [name, x] of [
      ['query', query],
      ['key', key],
      ['value', value],
    ] as const) {
      this.checkInput(name, x);
    }
    // The transposes are copies, made here: scratch, as everything else but the result.
    const [q, k, v] = this.batchFirst
      ? [query, key, value]
      : [query, key, value].map((x) => scratch(x.transpose(0, 1)));
    const e = this.embedDim;
    const projections = this.project(q, k, v);
    const heads = attentionHeads(
      projections[0],
      projections[1],
      projections[2],
      e,
      this.numHeads,
      masks,
    );
    const out = this.out_proj.forward(scratch(heads));
    return this.batchFirst ? out : scratch(out).transpose(0, 1);
  }

  /**
   * The query, key and value projections as column blocks of x W_inᵀ + b_in [·, ·, 3E]: one
   * product for self-attention, one per distinct input otherwise (the unused blocks get zero
   * gradient, so in_proj_weight's gradient is PyTorch's).
   */
  private project(q: Tensor, k: Tensor, v: Tensor): ProjectionView[] {
    const cache = new Map<Tensor, Tensor>();
    const packed = (x: Tensor) => {
      let p = cache.get(x);
      if (p === undefined) {
        p = scratch(linear(x, this.in_proj_weight, this.in_proj_bias));
        cache.set(x, p);
      }
      return p;
    };
    const e = this.embedDim;
    return [
      { tensor: packed(q), col: 0 },
      { tensor: packed(k), col: e },
      { tensor: packed(v), col: 2 * e },
    ];
  }

  private checkInput(name: string, x: Tensor): void {
    const where = `MultiheadAttention(${this.embedDim}, ${this.numHeads})(${name})`;
    if (!(x instanceof Tensor)) throw typeError(where, 'a Tensor', x);
    if (x.ndim !== 3 || x.shape[2] !== this.embedDim) {
      const layout = this.batchFirst ? '[batch, length' : '[length, batch';
      throw rangeError(
        where,
        `a tensor ${layout}, ${this.embedDim}]`,
        verbatim(shapeString(x.shape)),
      );
    }
  }

  protected override extraRepr(): string {
    return `embed_dim=${this.embedDim}, num_heads=${this.numHeads}`;
  }
}
