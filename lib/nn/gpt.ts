import { scratch } from '../autograd/engine';
import { causalMask } from '../autograd/ops-attention';
import { noGrad } from '../autograd/grad-mode';
import { checkFinite, checkInt, rangeError, typeError, verbatim } from '../errors';
import type { Tensor } from '../tensor';
import type { DType } from '../tensor';
import { Generator } from '../tensor/random';
import { Embedding } from './embedding';
import { crossEntropy, linear } from './functional';
import { LayerNorm } from './layernorm';
import { Linear } from './linear';
import { Module } from './module';
import { Sequential } from './sequential';
import { TransformerEncoderLayer } from './transformer';

export interface GPTConfig {
  /** Tokens the model reads and predicts (a character vocabulary's size). */
  vocabSize: number;
  /** The longest context, which the learned position embeddings cover; 64. */
  contextLength?: number;
  /** Model width; 128. */
  dModel?: number;
  /** Attention heads per layer; 4. */
  numHeads?: number;
  /** Transformer blocks; 2. */
  numLayers?: number;
  /** Feed-forward width; 4 * dModel. */
  dimFeedforward?: number;
  /** Share the token embedding with the output layer (GPT-2 does); false: a separate head. */
  tieWeights?: boolean;
  dtype?: DType;
}

/** Token indices [batch, time] as an Int32Array and its shape. */
export interface TokenBatch {
  tokens: Int32Array;
  batch: number;
  time: number;
}

/**
 * A small decoder-only transformer (GPT): token embeddings plus learned position embeddings,
 * numLayers pre-norm blocks with causal self-attention and a GELU feed-forward network, a final
 * LayerNorm and a linear head to the vocabulary's logits. The blocks are PyTorch's
 * TransformerEncoderLayer(normFirst, 'gelu', batchFirst) under `layers.0`, `layers.1`, ...
 *
 * @example
 * const gpt = new GPT({ vocabSize: 65 }); // 2 layers, d_model 128, 4 heads, context 64
 * const logits = gpt.forward({ tokens, batch: 32, time: 64 }); // [32, 64, 65]
 */
export class GPT extends Module {
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly dModel: number;
  readonly tieWeights: boolean;
  tok_emb: Embedding;
  pos_emb: Embedding;
  layers: Sequential;
  norm: LayerNorm;
  head: Linear | null;
  private readonly masks = new Map<number, Tensor>();
  private readonly dtype: DType;

  constructor({
    vocabSize,
    contextLength = 64,
    dModel = 128,
    numHeads = 4,
    numLayers = 2,
    dimFeedforward = 4 * dModel,
    tieWeights = false,
    dtype = 'float32',
  }: GPTConfig) {
    super();
    this.vocabSize = checkInt('GPT(vocabSize)', vocabSize, 1);
    this.contextLength = checkInt('GPT(contextLength)', contextLength, 1);
    this.dModel = checkInt('GPT(dModel)', dModel, 1);
    checkInt('GPT(numLayers)', numLayers, 1);
    if (typeof tieWeights !== 'boolean')
      throw typeError('GPT(tieWeights)', 'a boolean', tieWeights);
    this.tieWeights = tieWeights;
    this.dtype = dtype;

    this.tok_emb = new Embedding(vocabSize, dModel, { dtype });
    this.pos_emb = new Embedding(contextLength, dModel, { dtype });
    const blocks = Array.from(
      { length: numLayers },
      () =>
        new TransformerEncoderLayer(dModel, numHeads, {
          dimFeedforward,
          activation: 'gelu',
          batchFirst: true,
          normFirst: true,
          dtype,
        }),
    );
    this.layers = new Sequential(...blocks);
    this.norm = new LayerNorm(dModel, { dtype });
    this.head = tieWeights ? null : new Linear(dModel, vocabSize, false, { dtype });
  }

  /**
   * The logits [batch, time, vocabSize] of the next token after each position. Every tensor
   * made on the way is scratch: the backward pass gives its memory back.
   */
  forward({ tokens, batch, time }: TokenBatch): Tensor {
    this.checkTokens(tokens, batch, time);
    const positions = Int32Array.from({ length: time }, (_, t) => t);
    const embedded = scratch(this.tok_emb.forward(tokens, [batch, time]));
    let x = scratch(embedded.add(scratch(this.pos_emb.forward(positions))));

    const masks = { attnMask: this.causalMaskOf(time) };
    for (const block of this.layers) {
      x = scratch((block as TransformerEncoderLayer).forward(x, masks));
    }
    x = scratch(this.norm.forward(x));
    return this.head === null ? linear(x, this.tok_emb.weight) : this.head.forward(x);
  }

  /** Mean cross-entropy (nats per token) of predicting `targets` [batch * time]. */
  loss(batch: TokenBatch, targets: Int32Array): Tensor {
    const logits = scratch(this.forward(batch));
    return crossEntropy(logits.reshape([batch.batch * batch.time, this.vocabSize]), targets);
  }

  /**
   * Continues `prompt` by `count` tokens, each drawn from softmax(logits / temperature) of the
   * last position (the context cut to contextLength), from the seeded generator.
   */
  generate(
    prompt: ArrayLike<number>,
    count: number,
    { temperature = 1, generator = new Generator(0) }: GenerateOptions = {},
  ): Int32Array {
    checkInt('GPT.generate(count)', count, 0);
    checkFinite('GPT.generate(temperature)', temperature);
    if (!(temperature > 0))
      throw rangeError('GPT.generate(temperature)', 'a number > 0', temperature);
    if (prompt.length === 0) throw rangeError('GPT.generate(prompt)', 'at least one token', 0);
    const out = Array.from(prompt);
    noGrad(() => {
      for (let i = 0; i < count; i++) {
        const context = Int32Array.from(out.slice(-this.contextLength));
        const logits = this.forward({ tokens: context, batch: 1, time: context.length });
        const last = logits.data.subarray((context.length - 1) * this.vocabSize);
        out.push(sample(last, temperature, generator));
      }
    });
    return Int32Array.from(out);
  }

  private causalMaskOf(time: number): Tensor {
    let mask = this.masks.get(time);
    if (mask === undefined) {
      mask = causalMask(time, { dtype: this.dtype });
      this.masks.set(time, mask);
    }
    return mask;
  }

  private checkTokens(tokens: Int32Array, batch: number, time: number): void {
    if (!(tokens instanceof Int32Array)) throw typeError('GPT(tokens)', 'an Int32Array', tokens);
    checkInt('GPT(batch)', batch, 1);
    checkInt('GPT(time)', time, 1, this.contextLength);
    if (tokens.length !== batch * time) {
      throw rangeError(
        'GPT(tokens)',
        `batch * time = ${batch * time} tokens`,
        verbatim(`${tokens.length} tokens`),
      );
    }
  }

  protected override extraRepr(): string {
    const sizes = `vocab_size=${this.vocabSize}, context_length=${this.contextLength}`;
    return `${sizes}, tied=${this.tieWeights}`;
  }
}

export interface GenerateOptions {
  /** Divides the logits: below 1 sharpens the distribution, above 1 flattens it. */
  temperature?: number;
  /** The random stream the tokens are drawn from. */
  generator?: Generator;
}

/** An index drawn from softmax(logits / temperature), computed stably in double. */
function sample(logits: ArrayLike<number>, temperature: number, generator: Generator): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const weights = Array.from(logits, (v) => Math.exp((v - max) / temperature));
  let u = generator.float() * weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < weights.length; i++) {
    u -= weights[i];
    if (u < 0) return i;
  }
  return weights.length - 1;
}
