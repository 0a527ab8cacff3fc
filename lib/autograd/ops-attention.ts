/**
 * Multi-head scaled dot-product attention as one op: per batch entry and head, two GEMMs and a
 * row softmax forward, four GEMMs and a softmax backward backward. Heads are read in place from
 * the projections [N, L, width] through the GEMMs' leading dimensions, so no permute copies the
 * data into [N, H, L, D] and back; queries, keys and values may be column blocks of one packed
 * tensor (the self-attention projection x W_in^T is [N, L, 3E]).
 */
import type { Backend, FloatArray } from '../backend/backend';
import { rangeError, shapeString, typeError, verbatim } from '../errors';
import { Tensor } from '../tensor/tensor';
import { allocLike, allocOutput, allocZeroed, backendFor, recycle } from './dispatch';
import { record } from './engine';

/** The masks of an attention call, with PyTorch's meaning. */
export interface AttentionMasks {
  /**
   * Added to the attention scores: [T, S], or [N * numHeads, T, S] for a mask per batch entry
   * and head. -Infinity blocks a key, as in PyTorch's float masks (see {@link causalMask}).
   */
  attnMask?: Tensor | null;
  /**
   * [N, S]: a non-zero entry marks key s of batch entry n as padding, which no query attends
   * to (PyTorch's boolean key_padding_mask, True = ignore, as numbers).
   */
  keyPaddingMask?: Tensor | null;
}

/** Columns [col, col + embedDim) of a [N, L, width] tensor: one role's projection. */
export interface ProjectionView {
  tensor: Tensor;
  col: number;
}

/**
 * The additive mask [T, T] that lets position t attend to positions 0..t only: -Infinity above
 * the diagonal, 0 elsewhere, as nn.Transformer.generate_square_subsequent_mask.
 *
 * @example
 * causalMask(3).toArray(); // [[0, -Inf, -Inf], [0, 0, -Inf], [0, 0, 0]]
 */
export function causalMask(size: number, { dtype = 'float32' as 'float32' | 'float64' } = {}) {
  if (!Number.isInteger(size) || size < 1)
    throw rangeError('causalMask(size)', 'an integer >= 1', size);
  const data = dtype === 'float64' ? new Float64Array(size * size) : new Float32Array(size * size);
  for (let t = 0; t < size; t++) data.fill(-Infinity, t * size + t + 1, (t + 1) * size);
  return new Tensor(data, [size, size]);
}

/** The scores' additive bias [bn, bh, T, S] (bn in {1, N}, bh in {1, H}) and its empty rows. */
interface ScoreBias {
  data: FloatArray;
  shape: [number, number, number, number];
  /** 1 for a bias row that is -Infinity throughout: its query attends to nothing. */
  emptyRows: Uint8Array;
}

function checkMask(where: string, mask: Tensor, shapes: number[][], like: Tensor): void {
  if (!(mask instanceof Tensor)) throw typeError(where, 'a Tensor or null', mask);
  if (!shapes.some((s) => s.length === mask.ndim && s.every((d, i) => d === mask.shape[i]))) {
    const expected = shapes.map(shapeString).join(' or ');
    throw rangeError(where, `a mask of shape ${expected}`, verbatim(shapeString(mask.shape)));
  }
  if (mask.dtype !== like.dtype) {
    throw rangeError(where, `a ${like.dtype} mask`, verbatim(`${mask.dtype} tensor`));
  }
}

function scoreBias(
  masks: AttentionMasks,
  like: Tensor,
  n: number,
  h: number,
  t: number,
  s: number,
): ScoreBias | null {
  const attn = masks.attnMask ?? null;
  const padding = masks.keyPaddingMask ?? null;
  if (attn === null && padding === null) return null;
  if (attn !== null)
    checkMask(
      'attention(attnMask)',
      attn,
      [
        [t, s],
        [n * h, t, s],
      ],
      like,
    );
  if (padding !== null) checkMask('attention(keyPaddingMask)', padding, [[n, s]], like);

  const perHead = attn !== null && attn.ndim === 3;
  const bn = perHead || padding !== null ? n : 1;
  const bh = perHead ? h : 1;
  const data = allocLike(like.data, bn * bh * t * s);
  const emptyRows = new Uint8Array(bn * bh * t);
  for (let b = 0; b < bn * bh; b++) {
    const batch = bh === 1 ? b : Math.floor(b / h);
    for (let row = 0; row < t; row++) {
      const at = (b * t + row) * s;
      let open = false;
      for (let col = 0; col < s; col++) {
        let v = attn === null ? 0 : attn.data[(perHead ? b * t * s : 0) + row * s + col];
        if (padding !== null && padding.data[batch * s + col] !== 0) v = -Infinity;
        data[at + col] = v;
        if (v !== -Infinity) open = true;
      }
      emptyRows[b * t + row] = open ? 0 : 1;
    }
  }
  return { data, shape: [bn, bh, t, s], emptyRows };
}

/** The sizes of one attention call, and where each role's head h of batch entry b starts. */
class Layout {
  readonly d: number;

  constructor(
    readonly q: ProjectionView,
    readonly k: ProjectionView,
    readonly v: ProjectionView,
    readonly n: number,
    readonly t: number,
    readonly s: number,
    readonly e: number,
    readonly h: number,
  ) {
    this.d = e / h;
  }

  /** Row stride of a view's tensor. */
  static width(view: ProjectionView): number {
    return view.tensor.shape[2];
  }

  /** The offset of head h of batch entry b within a view with `length` rows per entry. */
  static offset(view: ProjectionView, length: number, b: number, h: number, d: number): number {
    return b * length * Layout.width(view) + view.col + h * d;
  }
}

function checkView(where: string, view: ProjectionView, n: number | null, e: number): void {
  const x = view.tensor;
  if (!(x instanceof Tensor)) throw typeError(where, 'a Tensor', x);
  if (x.ndim !== 3 || (n !== null && x.shape[0] !== n) || view.col + e > x.shape[2]) {
    throw rangeError(
      where,
      `a tensor [${n ?? 'N'}, length, >= ${view.col + e}] holding columns ` +
        `[${view.col}, ${view.col + e})`,
      verbatim(shapeString(x.shape)),
    );
  }
}

/**
 * softmax(Q Kᵀ / √D + mask) V for each head, the heads side by side: [N, T, E] from queries
 * [N, T, ·], keys and values [N, S, ·], each read from columns [col, col + E) of its tensor. A
 * query whose keys are all blocked gets zeros (PyTorch 1.13 gives NaN) and passes no gradient.
 *
 * @example
 * const qkv = F.linear(x, inProjWeight, inProjBias); // [N, T, 3E]
 * const y = attentionHeads({ tensor: qkv, col: 0 }, { tensor: qkv, col: E },
 *   { tensor: qkv, col: 2 * E }, E, heads, { attnMask: causalMask(T) });
 */
export function attentionHeads(
  q: ProjectionView,
  k: ProjectionView,
  v: ProjectionView,
  embedDim: number,
  numHeads: number,
  masks: AttentionMasks = {},
): Tensor {
  checkView('attention(query)', q, null, embedDim);
  const [n, t] = q.tensor.shape;
  checkView('attention(key)', k, n, embedDim);
  checkView('attention(value)', v, n, embedDim);
  const s = k.tensor.shape[1];
  if (v.tensor.shape[1] !== s) {
    throw rangeError(
      'attention(value)',
      `as many rows as the keys (${s})`,
      verbatim(shapeString(v.tensor.shape)),
    );
  }
  for (const role of [k, v]) {
    if (role.tensor.dtype !== q.tensor.dtype) {
      throw rangeError('attention', 'query, key and value of one dtype', role.tensor.dtype);
    }
  }
  const layout = new Layout(q, k, v, n, t, s, embedDim, numHeads);
  const bias = scoreBias(masks, q.tensor, n, numHeads, t, s);
  const backend = backendFor(q.tensor.data);

  const probs = allocOutput(q.tensor.data, n * numHeads * t * s);
  // Every element is written by step 3's products (beta 0), or by the zero fill for no keys.
  const out = new Tensor(allocOutput(q.tensor.data, n * t * embedDim), [n, t, embedDim]);
  attentionForward(backend, layout, bias, probs, out.data);

  const inputs = [...new Set([q.tensor, k.tensor, v.tensor])];
  const backward = (g: FloatArray) => attentionBackward(layout, probs, g, inputs);
  // probs is the op's own: given back with out when out is scratch.
  return record(out, 'attention', inputs, backward, [probs]);
}

/** Scores, mask, softmax (empty rows zeroed), then the weighted sum of the values. */
function attentionForward(
  be: Backend,
  l: Layout,
  bias: ScoreBias | null,
  probs: FloatArray,
  out: FloatArray,
): void {
  const { q, k, v, n, t, s, h, d, e } = l;
  const scale = 1 / Math.sqrt(d);
  const [wq, wk, wv] = [Layout.width(q), Layout.width(k), Layout.width(v)];
  const [qd, kd, vd] = [q.tensor.data, k.tensor.data, v.tensor.data];
  if (t === 0 || n === 0) return;
  if (s === 0) {
    out.fill(0); // no keys: every query attends to nothing
    return;
  }

  // Step 1: scores = Q_h K_hᵀ / √D for every batch entry and head, into probs.
  for (let b = 0; b < n; b++) {
    for (let hd = 0; hd < h; hd++) {
      const qh = qd.subarray(Layout.offset(q, t, b, hd, d));
      const kh = kd.subarray(Layout.offset(k, s, b, hd, d));
      be.gemm(
        false,
        true,
        t,
        s,
        d,
        scale,
        qh,
        wq,
        kh,
        wk,
        0,
        probs.subarray((b * h + hd) * t * s),
        s,
      );
    }
  }

  // Step 2: add the masks, softmax each row; a row with every key blocked becomes zeros.
  const shape = [n, h, t, s];
  if (bias !== null) be.binaryForward('add', probs, shape, bias.data, bias.shape, probs, shape);
  be.softmaxForward(probs, n * h * t, s, probs);
  if (bias !== null) zeroEmptyRows(probs, bias, n, h, t, s);

  // Step 3: out_h = P_h V_h, written into the head's columns of out.
  for (let b = 0; b < n; b++) {
    for (let hd = 0; hd < h; hd++) {
      const p = probs.subarray((b * h + hd) * t * s);
      const vh = vd.subarray(Layout.offset(v, s, b, hd, d));
      be.gemm(false, false, t, d, s, 1, p, s, vh, wv, 0, out.subarray(b * t * e + hd * d), e);
    }
  }
}

function zeroEmptyRows(
  probs: FloatArray,
  bias: ScoreBias,
  n: number,
  h: number,
  t: number,
  s: number,
): void {
  const [bn, bh] = bias.shape;
  for (let b = 0; b < n; b++) {
    for (let hd = 0; hd < h; hd++) {
      const biasBase = ((bn === 1 ? 0 : b) * bh + (bh === 1 ? 0 : hd)) * t;
      for (let row = 0; row < t; row++) {
        if (bias.emptyRows[biasBase + row] === 1) {
          const at = ((b * h + hd) * t + row) * s;
          probs.fill(0, at, at + s);
        }
      }
    }
  }
}

/**
 * Per role (query, key, value): true when no other role reads columns of its tensor that it
 * reads. Then one product writes each of its blocks of the gradient (beta 0), rather than
 * adding into a zeroed array what several roles give one column (beta 1).
 */
function alone(roles: readonly ProjectionView[], e: number): boolean[] {
  return roles.map((r, i) =>
    roles.every(
      (o, j) => j === i || o.tensor !== r.tensor || o.col + e <= r.col || r.col + e <= o.col,
    ),
  );
}

/**
 * An array for the gradient of x: unzeroed when its roles' column blocks, none shared, cover
 * every column (packed self-attention: [N, L, 3E] as query, key and value), since each block
 * is then written whole by one product; zeroed otherwise.
 */
function gradientArray(
  x: Tensor,
  roles: readonly ProjectionView[],
  single: readonly boolean[],
  e: number,
  g: FloatArray,
): FloatArray {
  const own = roles.filter((r, i) => r.tensor === x && single[i]).length;
  const tiled = own === roles.filter((r) => r.tensor === x).length && own * e === x.shape[2];
  return tiled ? allocOutput(g, x.numel) : allocZeroed(g, x.numel);
}

/**
 * dP = dO Vᵀ, dV = Pᵀ dO, dS = softmax backward of dP, dQ = dS K / √D, dK = dSᵀ Q / √D, head by
 * head. Where roles share columns of one tensor (one tensor passed as key and value, at the
 * same columns), their products add up (beta 1 on a zeroed array) to the sum of gradients.
 */
function attentionBackward(
  l: Layout,
  probs: FloatArray,
  g: FloatArray,
  inputs: Tensor[],
): (FloatArray | null)[] {
  const { q, k, v, n, t, s, h, d, e } = l;
  const be = backendFor(g);
  const scale = 1 / Math.sqrt(d);
  const [wq, wk, wv] = [Layout.width(q), Layout.width(k), Layout.width(v)];
  if (t === 0 || s === 0 || n === 0) {
    return inputs.map((x) => (x.requiresGrad ? allocZeroed(g, x.numel) : null));
  }
  const roles = [q, k, v];
  const single = alone(roles, e);
  const [bq, bk, bv] = single.map((one) => (one ? 0 : 1));
  const grads = new Map(
    inputs.map((x) => [x, x.requiresGrad ? gradientArray(x, roles, single, e, g) : null]),
  );
  const gq = grads.get(q.tensor)!;
  const gk = grads.get(k.tensor)!;
  const gv = grads.get(v.tensor)!;

  // Step 1: dP and dV, head by head.
  const dp = allocOutput(g, probs.length);
  for (let b = 0; b < n; b++) {
    for (let hd = 0; hd < h; hd++) {
      const at = (b * h + hd) * t * s;
      const go = g.subarray(b * t * e + hd * d);
      const vh = v.tensor.data.subarray(Layout.offset(v, s, b, hd, d));
      be.gemm(false, true, t, s, d, 1, go, e, vh, wv, 0, dp.subarray(at), s);
      if (gv !== null) {
        const target = gv.subarray(Layout.offset(v, s, b, hd, d));
        be.gemm(true, false, s, d, t, 1, probs.subarray(at), s, go, e, bv, target, wv);
      }
    }
  }

  // Step 2: through the softmax (zeroed rows have P = 0, so their dS is 0).
  be.softmaxBackward(probs, dp, n * h * t, s, dp);

  // Step 3: dQ and dK, head by head.
  for (let b = 0; b < n; b++) {
    for (let hd = 0; hd < h; hd++) {
      const ds = dp.subarray((b * h + hd) * t * s);
      const qOff = Layout.offset(q, t, b, hd, d);
      const kOff = Layout.offset(k, s, b, hd, d);
      if (gq !== null) {
        const kh = k.tensor.data.subarray(kOff);
        be.gemm(false, false, t, d, s, scale, ds, s, kh, wk, bq, gq.subarray(qOff), wq);
      }
      if (gk !== null) {
        const qh = q.tensor.data.subarray(qOff);
        be.gemm(true, false, s, d, t, scale, ds, s, qh, wq, bk, gk.subarray(kOff), wk);
      }
    }
  }
  recycle(dp); // the scores' gradient is this function's own scratch
  return inputs.map((x) => grads.get(x)!);
}
