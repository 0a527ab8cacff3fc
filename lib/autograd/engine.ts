import type { FloatArray } from '../backend/backend';
import { shapeString, typeError } from '../errors';
import { sameShape } from '../tensor/shape';
import type { Tensor } from '../tensor/tensor';
import { allocLike, allocOutput, backendFor, recyclable, recycle } from './dispatch';
import { isGradEnabled } from './grad-mode';

/**
 * One recorded op: its inputs, and how to turn the gradient of its output into the gradient
 * of each input. A backward returns null for an input that needs no gradient. It may return
 * the very array it was given (add does), or one array for several inputs: the engine then
 * treats it as shared and copies before it adds into it. Any other array it returns is
 * taken over by the engine, which may write into it. When writable is true the engine owns
 * gradOutput and reads it no more: the backward may overwrite it, e.g. with an elementwise
 * op's input gradient, and return it (a fresh array written from one in memory cost the
 * ReLU of the MNIST CNN a third more time than writing back in place).
 */
export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  backward(gradOutput: FloatArray, writable: boolean): (FloatArray | null)[];
  /**
   * Arrays the op keeps for its backward and owns alone (no tensor refers to them), or null:
   * given back with the output's data when the output is scratch (see {@link scratch}).
   */
  readonly saved: readonly FloatArray[] | null;
}

/**
 * Attaches the graph node to out when any input needs a gradient; returns out. saved lists
 * arrays of the op's own that its backward reads (see {@link GradNode.saved}).
 */
export function record(
  out: Tensor,
  name: string,
  inputs: readonly Tensor[],
  backward: GradNode['backward'],
  saved: readonly FloatArray[] | null = null,
): Tensor {
  if (!isGradEnabled() || !anyRequiresGrad(inputs)) return out;
  out.requiresGrad = true;
  out.gradFn = { name, inputs, backward, saved };
  return out;
}

/**
 * Marks t, an intermediate result that library code computed and lets nothing else keep
 * (neither t nor a view of its data reaches the caller), as scratch: the backward pass through
 * it gives its data, and the arrays its op saved, to allocOutput for the next forward pass,
 * and a later pass through the same graph throws instead of reading them (PyTorch frees a
 * graph's saved tensors the same way unless told retain_graph). A GPT step made ~40 MB of
 * such intermediates, and the garbage collections their fresh arrays caused took ~12% of its
 * CPU time (bench/NOTES.md, W6). A tensor without a graph node (computed under noGrad, or from
 * inputs that need no gradient) is left as it is: nothing will read it backwards.
 *
 * @example
 * const hidden = scratch(this.linear1.forward(x)); // only gelu below reads it
 * return this.linear2.forward(scratch(gelu(hidden)));
 */
export function scratch(t: Tensor): Tensor {
  if (t.gradFn !== null && t._scratch === 0) t._scratch = SCRATCH;
  return t;
}

/** Tensor._scratch: marked by scratch(); its memory given back by a backward pass. */
const SCRATCH = 1;
const RELEASED = 2;

function anyRequiresGrad(inputs: readonly Tensor[]): boolean {
  for (let i = 0; i < inputs.length; i++) if (inputs[i].requiresGrad) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// The backward pass. It runs once per training step, often on graphs of a handful of tiny ops,
// so it allocates nothing per tensor: each tensor of the graph gets a slot (an index into the
// reused arrays below) for the pass, found through the two scratch fields Tensor keeps for it.

/** Numbers the passes, so a tensor's slot is valid only in the pass that gave it. */
let pass = 0;
/** Per slot: the tensor, its pending gradient, and whether the engine may write into it. */
const slotTensor: (Tensor | null)[] = [];
const slotGrad: (FloatArray | null)[] = [];
const slotOwned: boolean[] = [];
/** The depth-first search's stack: a tensor and the index of its next input to visit. */
const stackTensor: (Tensor | null)[] = [];
const stackNext: number[] = [];

/**
 * Gives every tensor below root that requires a gradient a slot, in an order where every
 * tensor comes after all the tensors computed from it (slot 0 is root); returns their count.
 * Iterative depth-first search: a chain 100,000 ops deep must not overflow the stack.
 */
function assignSlots(root: Tensor): number {
  pass++;
  if (root._scratch === RELEASED) throw releasedError();
  root._pass = pass;
  let count = 0;
  let deepest = 1;
  stackTensor[0] = root;
  stackNext[0] = 0;
  let depth = 1;
  while (depth > 0) {
    const tensor = stackTensor[depth - 1]!;
    const inputs = tensor.gradFn === null ? NO_INPUTS : tensor.gradFn.inputs;
    const next = stackNext[depth - 1];
    if (next < inputs.length) {
      stackNext[depth - 1] = next + 1;
      const input = inputs[next];
      if (input.requiresGrad && input._pass !== pass) {
        if (input._scratch === RELEASED) {
          stackTensor.fill(null, 0, deepest);
          throw releasedError();
        }
        input._pass = pass;
        stackTensor[depth] = input;
        stackNext[depth] = 0;
        depth++;
        if (depth > deepest) deepest = depth;
      }
      continue;
    }
    // Post-order: every input of tensor has its place already; reversed below.
    slotTensor[count++] = tensor;
    depth--;
  }
  stackTensor.fill(null, 0, deepest);

  // Reverse the post-order, so root comes first and leaves last.
  for (let i = 0, j = count - 1; i < j; i++, j--) {
    const t = slotTensor[i];
    slotTensor[i] = slotTensor[j];
    slotTensor[j] = t;
  }
  for (let i = 0; i < count; i++) {
    slotTensor[i]!._slot = i;
    slotGrad[i] = null;
    slotOwned[i] = false;
  }
  return count;
}

const NO_INPUTS: readonly Tensor[] = [];

function releasedError(): RangeError {
  return new RangeError(
    'backward(): expected a graph no backward pass has run through yet, received one whose ' +
      'intermediate results an earlier backward() gave back; pass { retainGraph: true } to ' +
      'the first backward() to run through the graph again, or run the forward pass again',
  );
}

/**
 * After a backward pass that retains no graph: gives the memory of the scratch tensors it ran
 * through (and of their ops' saved arrays) to allocOutput, each array once.
 */
function releaseScratch(count: number): void {
  let given: Set<FloatArray> | null = null;
  for (let i = 0; i < count; i++) {
    const t = slotTensor[i]!;
    if (t._scratch !== SCRATCH || t.gradFn === null) continue;
    t._scratch = RELEASED;
    given ??= new Set();
    giveBack(t.data, given);
    const saved = t.gradFn.saved;
    if (saved !== null) for (let j = 0; j < saved.length; j++) giveBack(saved[j], given);
  }
}

function giveBack(array: FloatArray, given: Set<FloatArray>): void {
  if (!recyclable(array) || given.has(array)) return;
  given.add(array);
  recycle(array);
}

/**
 * Gradient arrays the engine could have written into that went to several inputs at once (add
 * hands its gradient to both operands), with how many slots have yet to read them: the last
 * to finish gives the array back. A transformer block's residual sums made four such 1 MB
 * arrays per GPT step, which were left to the garbage collector before. Emptied after each pass.
 */
const readers = new Map<FloatArray, number>();

function addReader(g: FloatArray): void {
  readers.set(g, (readers.get(g) ?? 0) + 1);
}

/** One reader of g is done with it; the last gives it back. Untracked arrays are left alone. */
function doneReading(g: FloatArray): void {
  if (readers.size === 0) return; // a graph of small arrays: nothing is ever counted
  const n = readers.get(g);
  if (n === undefined) return;
  if (n > 1) {
    readers.set(g, n - 1);
  } else {
    readers.delete(g);
    recycle(g);
  }
}

/** Adds grad into the pending gradient of the tensor in slot; gradients of reuse add up. */
function accumulate(slot: number, grad: FloatArray, owned: boolean): void {
  const existing = slotGrad[slot];
  if (existing === null) {
    slotGrad[slot] = grad;
    slotOwned[slot] = owned;
    return;
  }
  const existingOwned = slotOwned[slot];
  const sum = existingOwned ? existing : allocOutput(grad, grad.length);
  addInto(existing, grad, sum);
  slotGrad[slot] = sum;
  slotOwned[slot] = true;
  // Both addends are read for the last time by the sum: an array the engine owned is given
  // back, one it shares is one reader fewer.
  if (!existingOwned) doneReading(existing);
  if (owned) recycle(grad);
  else doneReading(grad);
}

/** out = a + b for arrays of one length. */
function addInto(a: FloatArray, b: FloatArray, out: FloatArray): void {
  const n = a.length;
  // A few elements are added here directly; the kernel's shape handling costs more.
  if (n <= 16) {
    for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
    return;
  }
  const shape = [n];
  backendFor(a).binaryForward('add', a, shape, b, shape, out, shape);
}

function addIntoLeaf(leaf: Tensor, grad: FloatArray, owned: boolean): void {
  if (leaf.grad === null) {
    const data = owned ? grad : grad.slice();
    // The leaf's own class builds its gradient; importing Tensor here would be circular.
    const TensorClass = leaf.constructor as new (d: FloatArray, s: readonly number[]) => Tensor;
    leaf.grad = new TensorClass(data, leaf.shape);
  } else {
    addInto(leaf.grad.data, grad, leaf.grad.data);
  }
  if (!owned) doneReading(grad);
}

function seedGradient(root: Tensor, gradient: Tensor | undefined): FloatArray {
  if (gradient === undefined) {
    if (root.numel !== 1) {
      throw new RangeError(
        `backward(): expected a gradient argument for a tensor of shape ` +
          `${shapeString(root.shape)}; only a one-element tensor can omit it`,
      );
    }
    const one = allocLike(root.data, 1);
    one[0] = 1;
    return one;
  }
  if (!(gradient instanceof (root.constructor as typeof Tensor))) {
    throw typeError('backward(gradient)', 'a Tensor', gradient);
  }
  if (!sameShape(gradient.shape, root.shape) || gradient.dtype !== root.dtype) {
    throw new RangeError(
      `backward(gradient): expected a ${root.dtype} gradient of shape ` +
        `${shapeString(root.shape)}, received ${gradient.dtype} ${shapeString(gradient.shape)}`,
    );
  }
  return gradient.data;
}

/** True when grads holds g at an index other than i (one array returned for two inputs). */
function sharedElsewhere(grads: readonly (FloatArray | null)[], g: FloatArray, i: number) {
  for (let j = 0; j < grads.length; j++) if (j !== i && grads[j] === g) return true;
  return false;
}

/**
 * Passes the gradient of the tensor in slot through its op's backward (the chain rule) to
 * its inputs, or into its .grad when it is a leaf.
 */
function propagate(slot: number): void {
  const tensor = slotTensor[slot]!;
  const grad = slotGrad[slot]!;
  const owned = slotOwned[slot];
  slotGrad[slot] = null;

  const node = tensor.gradFn;
  if (node === null) {
    addIntoLeaf(tensor, grad, owned);
    return;
  }
  const inputGrads = node.backward(grad, owned);
  const inputs = node.inputs;
  // A shared gradient read here and handed on as a view of itself can no longer be counted.
  if (!owned && readers.size !== 0 && readers.has(grad) && aliasedBy(inputGrads, grad)) {
    readers.delete(grad);
  }
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i];
    const g = inputGrads[i];
    if (!input.requiresGrad || g === null || g === undefined) continue;
    // The engine may write into an array handed to one input only, and made by the backward
    // (or given to it by the engine as writable).
    const shared = sharedElsewhere(inputGrads, g, i);
    // Counted before accumulate may read it. Only arrays recycle() keeps: reading a small
    // typed array's .buffer moves its data off V8's heap (see dispatch.ts, recyclable()).
    if (recyclable(g) && isNewReader(g, grad, owned, shared, inputGrads)) addReader(g);
    accumulate(input._slot, g, !shared && (g !== grad || owned));
  }
  // The gradient has been passed on: an array the engine owned is dead unless an input got it
  // (or a view of it) to keep; one it shares has a reader fewer.
  if (owned && recyclable(grad) && !passedOn(inputGrads, grad)) recycle(grad);
  else if (!owned) doneReading(grad);
}

/**
 * Whether the input handed g by the op of the slot whose gradient is grad is one more reader
 * to count: g is the shared array that slot read, or an array the engine could have written
 * into (made by the backward, or grad when the engine owned it) that other inputs got too.
 */
function isNewReader(
  g: FloatArray,
  grad: FloatArray,
  owned: boolean,
  shared: boolean,
  grads: readonly (FloatArray | null)[],
): boolean {
  if (g === grad) return readers.has(g) || (shared && owned && !aliasedBy(grads, g));
  return shared && g.buffer !== grad.buffer && !aliasedBy(grads, g);
}

/** True when one of grads is a view of g's memory other than g itself. */
function aliasedBy(grads: readonly (FloatArray | null)[], g: FloatArray): boolean {
  for (let i = 0; i < grads.length; i++) {
    const other = grads[i];
    if (other !== null && other !== undefined && other !== g && other.buffer === g.buffer) {
      return true;
    }
  }
  return false;
}

/** True when one of grads is g or a view of g's memory. */
function passedOn(grads: readonly (FloatArray | null)[], g: FloatArray): boolean {
  for (let i = 0; i < grads.length; i++) {
    const other = grads[i];
    if (other !== null && other !== undefined && other.buffer === g.buffer) return true;
  }
  return false;
}

/** What backward() takes besides the gradient, with PyTorch's meaning. */
export interface BackwardOptions {
  /**
   * Keep the graph for another backward pass (PyTorch's retain_graph); by default the pass
   * gives back the memory of the library's own intermediates (see {@link scratch}).
   */
  retainGraph?: boolean;
}

/**
 * Reverse-mode differentiation from root: walks the graph from the output back to the
 * leaves, passing each op's output gradient through its backward (the chain rule) and
 * adding the result into the .grad of every leaf that requires one.
 */
export function backward(root: Tensor, gradient?: Tensor, options?: BackwardOptions): void {
  // Read without a default object: W1 runs ~450k backward passes a second.
  const retainGraph = options?.retainGraph ?? false;
  if (!root.requiresGrad) {
    throw new RangeError(
      'backward(): expected a tensor that requires grad, received one that does not ' +
        '(was it computed inside noGrad(), or from tensors without requiresGrad?)',
    );
  }
  if (typeof retainGraph !== 'boolean') {
    throw typeError('backward(options.retainGraph)', 'a boolean', retainGraph);
  }
  const seed = seedGradient(root, gradient);
  const count = assignSlots(root);
  slotGrad[0] = seed;
  slotOwned[0] = false;
  try {
    for (let slot = 0; slot < count; slot++) {
      if (slotGrad[slot] !== null) propagate(slot);
    }
    // Only after every backward has run: an op's backward reads its inputs' data.
    if (!retainGraph) releaseScratch(count);
  } finally {
    // Let the graph and its gradients go; a backward that threw leaves nothing behind.
    slotTensor.fill(null, 0, count);
    slotGrad.fill(null, 0, count);
    if (readers.size !== 0) readers.clear(); // clear() allocates a new table
  }
}
