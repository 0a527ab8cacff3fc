/**
 * Ops that move data without arithmetic: views under a new shape, permutations, broadcasting,
 * concatenation, slicing and indexing, with PyTorch's names and semantics. Outputs are copies,
 * not views. Contiguous blocks are moved with TypedArray.set (a memcpy under V8), which is why
 * these ops need no backend kernel; permute and expand use the backend's.
 */
import type { FloatArray } from '../backend/backend';
import { checkInt, rangeError, shapeString, typeError, verbatim } from '../errors';
import { normalizeDim, numel, sameShape, splitAt } from '../tensor/shape';
import { Tensor } from '../tensor/tensor';
import { allocLike, backendFor } from './dispatch';
import { record } from './engine';
import { checkTensor, empty, expandTo, sumTo } from './op-utils';

/** The same data under another shape of as many elements; the gradient is reshaped back. */
function view(name: string, x: Tensor, shape: readonly number[]): Tensor {
  return record(new Tensor(x.data, shape), name, [x], (g) => [g]);
}

/** Inserts a dimension of size 1 at dim (dim may be ndim, or negative as in PyTorch). */
export function unsqueeze(xIn: Tensor, dim: number): Tensor {
  const x = checkTensor('unsqueeze', xIn);
  const d = normalizeDim('unsqueeze(dim)', dim, x.ndim + 1);
  return view('unsqueeze', x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

/** Removes dimension dim if its size is 1, or every dimension of size 1 when dim is omitted. */
export function squeeze(xIn: Tensor, dim?: number): Tensor {
  const x = checkTensor('squeeze', xIn);
  if (dim === undefined)
    return view(
      'squeeze',
      x,
      x.shape.filter((s) => s !== 1),
    );
  const d = normalizeDim('squeeze(dim)', dim, x.ndim);
  if (x.shape[d] !== 1) return view('squeeze', x, x.shape);
  return view(
    'squeeze',
    x,
    x.shape.filter((_, i) => i !== d),
  );
}

/** Merges dimensions startDim..endDim (inclusive) into one, as torch.flatten. */
export function flatten(xIn: Tensor, startDim = 0, endDim = -1): Tensor {
  const x = checkTensor('flatten', xIn);
  if (x.ndim === 0) return view('flatten', x, [1]);
  const start = normalizeDim('flatten(startDim)', startDim, x.ndim);
  const end = normalizeDim('flatten(endDim)', endDim, x.ndim);
  if (start > end) {
    throw rangeError('flatten(endDim)', `a dimension at or after startDim ${start}`, endDim);
  }
  const merged = numel(x.shape.slice(start, end + 1));
  return view('flatten', x, [...x.shape.slice(0, start), merged, ...x.shape.slice(end + 1)]);
}

/** Reorders the dimensions: out.shape[i] = x.shape[dims[i]], for any rank. */
export function permute(xIn: Tensor, dims: readonly number[]): Tensor {
  const x = checkTensor('permute', xIn);
  const perm = checkPermutation(x, dims);
  const shape = perm.map((p) => x.shape[p]);
  const out = empty(x, shape);
  backendFor(x.data).permute(x.data, x.shape, perm, out.data);

  // The gradient goes back through the inverse permutation.
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  return record(out, 'permute', [x], (g) => {
    const gx = allocLike(g, g.length);
    backendFor(g).permute(g, shape, inverse, gx);
    return [gx];
  });
}

function checkPermutation(x: Tensor, dims: readonly number[]): number[] {
  const expected = `a permutation of the ${x.ndim} dimensions of ${shapeString(x.shape)}`;
  if (!Array.isArray(dims)) throw typeError('permute(dims)', expected, dims);
  if (dims.length !== x.ndim) throw rangeError('permute(dims)', expected, dims);
  const perm = dims.map((d) => normalizeDim('permute(dims)', d, x.ndim));
  if (new Set(perm).size !== perm.length) throw rangeError('permute(dims)', expected, dims);
  return perm;
}

/**
 * Broadcasts x to shape (new dimensions are prepended; -1 keeps a size), as torch's expand.
 * The output is a copy; the gradient sums over every broadcast dimension.
 */
export function expand(xIn: Tensor, shapeIn: readonly number[]): Tensor {
  const x = checkTensor('expand', xIn);
  const shape = expandedShape(x, shapeIn);
  const out = new Tensor(expandTo(x.data, x.shape, shape), shape);
  if (out.data === x.data) return view('expand', x, shape);
  return record(out, 'expand', [x], (g) => [sumTo(g, shape, x.shape)]);
}

function expandedShape(x: Tensor, shape: readonly number[]): number[] {
  const bad = () =>
    rangeError(`expand(${shapeString(x.shape)})`, 'a shape it broadcasts to', shape);
  if (!Array.isArray(shape) || shape.length < x.ndim) throw bad();
  const lead = shape.length - x.ndim;
  return shape.map((s, i) => {
    const own = i < lead ? undefined : x.shape[i - lead];
    if (s === -1 && own !== undefined) return own;
    if (!Number.isInteger(s) || s < 0 || (own !== undefined && own !== 1 && own !== s)) {
      throw bad();
    }
    return s;
  });
}

/** Checks a list of tensors for cat/stack: non-empty, one dtype. */
function checkList(name: string, tensors: readonly Tensor[]): Tensor[] {
  if (!Array.isArray(tensors) || tensors.length === 0) {
    throw typeError(`${name}(tensors)`, 'a non-empty array of Tensors', tensors);
  }
  const list = tensors.map((t, i) => checkTensor(`${name}(tensors[${i}])`, t));
  const odd = list.find((t) => t.dtype !== list[0].dtype);
  if (odd !== undefined) {
    throw rangeError(`${name}(tensors)`, `tensors of one dtype`, verbatim(odd.dtype));
  }
  return list;
}

/** Concatenates tensors along an existing dimension; all other sizes must agree. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  const list = checkList('cat', tensors);
  const first = list[0];
  const d = normalizeDim('cat(dim)', dim, first.ndim);
  if (first.ndim === 0) throw rangeError('cat(tensors)', 'tensors of at least 1 dimension', []);
  list.forEach((t, i) => {
    if (t.ndim !== first.ndim || t.shape.some((s, j) => j !== d && s !== first.shape[j])) {
      throw new RangeError(
        `cat: expected tensors[${i}] to match ${shapeString(first.shape)} except in ` +
          `dimension ${d}, received ${shapeString(t.shape)}`,
      );
    }
  });
  const sizes = list.map((t) => t.shape[d]);
  const total = sizes.reduce((a, b) => a + b, 0);
  const shape = first.shape.map((s, j) => (j === d ? total : s));
  const [outer, , inner] = splitAt(shape, d);
  const out = empty(first, shape);
  let offset = 0;
  list.forEach((t, i) => {
    copyRange(t.data, 0, sizes[i], sizes[i], out.data, offset, total, outer, inner);
    offset += sizes[i];
  });

  return record(out, 'cat', list, (g) => {
    let start = 0;
    return list.map((t, i) => {
      const size = sizes[i];
      start += size;
      if (!t.requiresGrad) return null;
      const gx = allocLike(g, t.numel);
      copyRange(g, start - size, size, total, gx, 0, size, outer, inner);
      return gx;
    });
  });
}

/** torch.concat: the same as cat. */
export const concat = cat;

/** Stacks tensors of one shape along a new dimension. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  const list = checkList('stack', tensors);
  const d = normalizeDim('stack(dim)', dim, list[0].ndim + 1);
  list.forEach((t, i) => {
    if (!sameShape(t.shape, list[0].shape)) {
      throw rangeError(`stack(tensors[${i}])`, `shape ${shapeString(list[0].shape)}`, [...t.shape]);
    }
  });
  return cat(
    list.map((t) => unsqueeze(t, d)),
    d,
  );
}

/**
 * Copies `count` rows of the middle axis from src viewed as [outer, srcN, inner], starting at
 * row srcStart, into dst viewed as [outer, dstN, inner] at row dstStart.
 */
function copyRange(
  src: FloatArray,
  srcStart: number,
  count: number,
  srcN: number,
  dst: FloatArray,
  dstStart: number,
  dstN: number,
  outer: number,
  inner: number,
): void {
  const length = count * inner;
  if (length === 0) return;
  for (let o = 0; o < outer; o++) {
    const from = (o * srcN + srcStart) * inner;
    dst.set(src.subarray(from, from + length), (o * dstN + dstStart) * inner);
  }
}

/**
 * Rows start, start + step, ... (before end) of dimension dim, with Python's slice rules:
 * negative start and end count from the end and both are clamped to the dimension.
 */
export function slice(xIn: Tensor, dim: number, start = 0, end?: number, step = 1): Tensor {
  const x = checkTensor('slice', xIn);
  const d = normalizeDim('slice(dim)', dim, x.ndim);
  const size = x.shape[d];
  checkInt('slice(step)', step, 1);
  const from = clampIndex('slice(start)', start, size);
  const to = end === undefined ? size : clampIndex('slice(end)', end, size);
  const count = Math.max(0, Math.ceil((to - from) / step));
  return takeRows('slice', x, d, count, (j) => from + j * step);
}

function clampIndex(where: string, index: number, size: number): number {
  checkInt(where, index, -Number.MAX_SAFE_INTEGER);
  const i = index < 0 ? index + size : index;
  return Math.min(Math.max(i, 0), size);
}

/** Rows start .. start + length - 1 of dimension dim, as torch.narrow (start may be negative). */
export function narrow(xIn: Tensor, dim: number, start: number, length: number): Tensor {
  const x = checkTensor('narrow', xIn);
  const d = normalizeDim('narrow(dim)', dim, x.ndim);
  const size = x.shape[d];
  const s = checkInt('narrow(start)', start, -size, size);
  const begin = s < 0 ? s + size : s;
  checkInt('narrow(length)', length, 0, size - begin);
  return takeRows('narrow', x, d, length, (j) => begin + j);
}

/**
 * The rows row(0), ..., row(count - 1) of dimension d of x, each row taken once: the backward
 * scatters the gradient back to those rows and leaves the rest zero.
 */
function takeRows(
  name: string,
  x: Tensor,
  d: number,
  count: number,
  row: (j: number) => number,
): Tensor {
  const [outer, n, inner] = splitAt(x.shape, d);
  const shape = x.shape.map((s, i) => (i === d ? count : s));
  const out = empty(x, shape);
  for (let j = 0; j < count; j++) copyRange(x.data, row(j), 1, n, out.data, j, count, outer, inner);

  return record(out, name, [x], (g) => {
    const gx = allocLike(g, x.numel);
    for (let j = 0; j < count; j++) copyRange(g, j, 1, count, gx, row(j), n, outer, inner);
    return [gx];
  });
}

/** One entry of {@link index}: a number picks one row (and drops the dimension). */
export type IndexSpec = number | null | readonly [start?: number, end?: number, step?: number];

/**
 * NumPy-style basic indexing, one entry per leading dimension: a number picks a row and drops
 * the dimension, [start, end, step] slices (Python's rules), null or a missing entry keeps the
 * whole dimension. index(x, [0, [1, 3]]) is x[0, 1:3] in PyTorch.
 */
export function index(xIn: Tensor, specs: readonly IndexSpec[]): Tensor {
  const x = checkTensor('index', xIn);
  if (!Array.isArray(specs) || specs.length > x.ndim) {
    throw rangeError(
      'index(specs)',
      `at most ${x.ndim} entries for ${shapeString(x.shape)}`,
      specs,
    );
  }
  let out = x;
  const dropped: number[] = [];
  specs.forEach((spec, d) => {
    if (spec === null || spec === undefined) return;
    if (typeof spec === 'number') {
      const size = x.shape[d];
      const i = checkInt(`index(specs[${d}])`, spec, -size, size - 1);
      out = narrow(out, d, i < 0 ? i + size : i, 1);
      dropped.push(d);
      return;
    }
    if (!Array.isArray(spec)) {
      throw typeError(`index(specs[${d}])`, 'a number, null or [start, end, step]', spec);
    }
    out = slice(out, d, spec[0] ?? 0, spec[1] ?? undefined, spec[2] ?? 1);
  });
  if (dropped.length === 0) return out;
  return view(
    'index',
    out,
    out.shape.filter((_, i) => !dropped.includes(i)),
  );
}

/**
 * Splits x along dim into pieces of splitSize rows (the last may be smaller), or into pieces of
 * the sizes listed, as torch.split.
 */
export function split(xIn: Tensor, splitSize: number | readonly number[], dim = 0): Tensor[] {
  const x = checkTensor('split', xIn);
  const d = normalizeDim('split(dim)', dim, x.ndim);
  const size = x.shape[d];
  let sizes: number[];
  if (Array.isArray(splitSize)) {
    sizes = splitSize.map((s, i) => checkInt(`split(splitSize[${i}])`, s, 0));
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== size) {
      throw rangeError('split(splitSize)', `sizes that add up to ${size}`, splitSize);
    }
  } else {
    const step = checkInt('split(splitSize)', splitSize, size === 0 ? 0 : 1);
    sizes = [];
    for (let s = 0; s < size; s += step) sizes.push(Math.min(step, size - s));
    if (size === 0) sizes.push(0);
  }
  let start = 0;
  return sizes.map((length) => {
    start += length;
    return narrow(x, d, start - length, length);
  });
}

/** Splits x into `chunks` pieces along dim, each ceil(size / chunks) rows but the last. */
export function chunk(xIn: Tensor, chunks: number, dim = 0): Tensor[] {
  const x = checkTensor('chunk', xIn);
  checkInt('chunk(chunks)', chunks, 1);
  const size = x.shape[normalizeDim('chunk(dim)', dim, x.ndim)];
  return split(x, Math.max(1, Math.ceil(size / chunks)), dim);
}

/** Checks integer indices into a dimension of the given size. */
function checkIndices(where: string, index: unknown, size: number): Int32Array | number[] {
  if (!(index instanceof Int32Array) && !Array.isArray(index)) {
    throw typeError(where, 'an Int32Array or array of integer indices', index);
  }
  for (let i = 0; i < index.length; i++) {
    const v = index[i];
    if (!Number.isInteger(v) || v < 0 || v >= size) {
      throw rangeError(`${where}[${i}]`, `an integer index in [0, ${size})`, v);
    }
  }
  return index;
}

/**
 * The rows index[0], index[1], ... of dimension dim, as torch.index_select. Rows may repeat;
 * their gradients add up.
 */
export function indexSelect(xIn: Tensor, dim: number, index: Int32Array | readonly number[]) {
  const x = checkTensor('indexSelect', xIn);
  const d = normalizeDim('indexSelect(dim)', dim, x.ndim);
  const [outer, n, inner] = splitAt(x.shape, d);
  const rows = checkIndices('indexSelect(index)', index, n);
  const count = rows.length;
  const shape = x.ndim === 0 ? [count] : x.shape.map((s, i) => (i === d ? count : s));
  const out = empty(x, shape);
  for (let j = 0; j < count; j++)
    copyRange(x.data, rows[j], 1, n, out.data, j, count, outer, inner);

  return record(out, 'indexSelect', [x], (g) => {
    const gx = allocLike(g, x.numel);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < count; j++) {
        const from = (o * count + j) * inner;
        const to = (o * n + rows[j]) * inner;
        for (let i = 0; i < inner; i++) gx[to + i] += g[from + i];
      }
    }
    return [gx];
  });
}

/**
 * out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (and so on), as torch.gather. index is a
 * tensor of integer values with x's number of dimensions and, outside dim, sizes no larger
 * than x's; the output has index's shape.
 */
export function gather(xIn: Tensor, dim: number, indexIn: Tensor): Tensor {
  const x = checkTensor('gather', xIn);
  const index = checkTensor('gather(index)', indexIn);
  const d = normalizeDim('gather(dim)', dim, x.ndim);
  checkGatherIndex(x, d, index);
  const offsets = gatherOffsets(x.shape, d, index);
  const out = empty(x, index.shape);
  for (let i = 0; i < offsets.length; i++) out.data[i] = x.data[offsets[i]];

  return record(out, 'gather', [x], (g) => {
    const gx = allocLike(g, x.numel);
    for (let i = 0; i < offsets.length; i++) gx[offsets[i]] += g[i];
    return [gx];
  });
}

function checkGatherIndex(x: Tensor, d: number, index: Tensor): void {
  const fits = index.shape.every((s, i) => i === d || s <= x.shape[i]);
  if (index.ndim !== Math.max(x.ndim, 1) || !fits) {
    throw rangeError(
      'gather(index)',
      `an index with ${x.ndim} dimensions no larger than ${shapeString(x.shape)} outside ` +
        `dimension ${d}`,
      verbatim(shapeString(index.shape)),
    );
  }
  const size = x.shape[d] ?? 1;
  for (let i = 0; i < index.numel; i++) {
    const v = index.data[i];
    if (!Number.isInteger(v) || v < 0 || v >= size) {
      throw rangeError(`gather(index)[${i}]`, `an integer index in [0, ${size})`, v);
    }
  }
}

/** For each element of index (in order), the offset in x it reads. */
function gatherOffsets(shape: readonly number[], d: number, index: Tensor): Int32Array | number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i];
  }
  const offsets = new Array<number>(index.numel);
  const position = new Array<number>(index.ndim).fill(0);
  for (let i = 0; i < index.numel; i++) {
    let offset = 0;
    for (let a = 0; a < shape.length; a++) {
      offset += (a === d ? index.data[i] : position[a]) * strides[a];
    }
    offsets[i] = offset;
    // Advance the position like an odometer over index's shape.
    for (let a = index.ndim - 1; a >= 0; a--) {
      if (++position[a] < index.shape[a]) break;
      position[a] = 0;
    }
  }
  return offsets;
}
