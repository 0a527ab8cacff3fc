import { scratch } from '../autograd/engine';
import { checkInt, typeError } from '../errors';
import type { Tensor } from '../tensor';
import type { DType } from '../tensor';
import { MultiheadAttention } from './attention';
import type { AttentionMasks } from './attention';
import { gelu, relu } from './functional';
import { LayerNorm } from './layernorm';
import { Linear } from './linear';
import { Module } from './module';

export interface TransformerEncoderLayerOptions {
  /** Width of the feed-forward network; 2048 as in PyTorch. */
  dimFeedforward?: number;
  /** The feed-forward activation; 'relu' as in PyTorch. */
  activation?: 'relu' | 'gelu';
  /** Added to the variance in both layer norms; 1e-5. */
  layerNormEps?: number;
  /** Input and output as [batch, length, dModel] (true) or [length, batch, dModel]. */
  batchFirst?: boolean;
  /** Pre-norm (true: x + f(norm(x))) or post-norm (false: norm(x + f(x)), PyTorch's default). */
  normFirst?: boolean;
  /** Biases in the linear layers and layer norms; true. */
  bias?: boolean;
  dtype?: DType;
}

/**
 * One transformer encoder layer, PyTorch's `nn.TransformerEncoderLayer` with its parameter
 * names (`self_attn.*`, `linear1`, `linear2`, `norm1`, `norm2`), so state dicts match. With
 * normFirst (the pre-norm block of GPT-2):
 *
 *     x = x + self_attn(norm1(x));  x = x + linear2(activation(linear1(norm2(x))))
 *
 * NOTE: no dropout (PyTorch's default is 0.1; this is its dropout=0 layer).
 *
 * @example
 * const block = new TransformerEncoderLayer(128, 4, {
 *   dimFeedforward: 512, activation: 'gelu', batchFirst: true, normFirst: true,
 * });
 * block.forward(x, { attnMask: causalMask(64) }); // x [batch, 64, 128]
 */
export class TransformerEncoderLayer extends Module {
  readonly dModel: number;
  readonly activation: 'relu' | 'gelu';
  readonly normFirst: boolean;
  self_attn: MultiheadAttention;
  linear1: Linear;
  linear2: Linear;
  norm1: LayerNorm;
  norm2: LayerNorm;

  constructor(
    dModel: number,
    nhead: number,
    {
      dimFeedforward = 2048,
      activation = 'relu',
      layerNormEps = 1e-5,
      batchFirst = false,
      normFirst = false,
      bias = true,
      dtype = 'float32',
    }: TransformerEncoderLayerOptions = {},
  ) {
    super();
    this.dModel = checkInt('TransformerEncoderLayer(dModel)', dModel, 1);
    checkInt('TransformerEncoderLayer(dimFeedforward)', dimFeedforward, 1);
    if (activation !== 'relu' && activation !== 'gelu') {
      throw typeError('TransformerEncoderLayer(activation)', "'relu' or 'gelu'", activation);
    }
    if (typeof normFirst !== 'boolean') {
      throw typeError('TransformerEncoderLayer(normFirst)', 'a boolean', normFirst);
    }
    this.activation = activation;
    this.normFirst = normFirst;

    // Created in PyTorch's order, so the seeded initialisation draws in the same sequence.
    this.self_attn = new MultiheadAttention(dModel, nhead, { bias, batchFirst, dtype });
    this.linear1 = new Linear(dModel, dimFeedforward, bias, { dtype });
    this.linear2 = new Linear(dimFeedforward, dModel, bias, { dtype });
    this.norm1 = new LayerNorm(dModel, { eps: layerNormEps, bias, dtype });
    this.norm2 = new LayerNorm(dModel, { eps: layerNormEps, bias, dtype });
  }

  /**
   * src [N, T, dModel] (or [T, N, dModel]); masks as {@link MultiheadAttention.forward}. Every
   * tensor made here but the result is scratch: the backward pass gives its memory back.
   */
  forward(src: Tensor, masks: AttentionMasks = {}): Tensor {
    if (this.normFirst) {
      const normed = scratch(this.norm1.forward(src));
      const x = scratch(src.add(scratch(this.selfAttention(normed, masks))));
      return x.add(scratch(this.feedForward(scratch(this.norm2.forward(x)))));
    }
    const sum = scratch(src.add(scratch(this.selfAttention(src, masks))));
    const x = scratch(this.norm1.forward(sum));
    return this.norm2.forward(scratch(x.add(scratch(this.feedForward(x)))));
  }

  private selfAttention(x: Tensor, masks: AttentionMasks): Tensor {
    return this.self_attn.forward(x, x, x, masks);
  }

  private feedForward(x: Tensor): Tensor {
    const hidden = scratch(this.linear1.forward(x));
    const activated = scratch(this.activation === 'gelu' ? gelu(hidden) : relu(hidden));
    return this.linear2.forward(activated);
  }
}
