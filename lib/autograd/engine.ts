import type { FloatArray } from '../backend/backend';
import { shapeString, typeError } from '../errors';
import { sameShape } from '../tensor/shape';
import type { Tensor } from '../tensor/tensor';
import { allocLike, backendFor } from './dispatch';
import { isGradEnabled } from './grad-mode';

/**
 * One recorded op: its inputs, and how to turn the gradient of its output into the gradient
 * of each input. A backward returns null for an input that needs no gradient. It may return
 * the very array it was given (add does), or one array for several inputs: the engine then
 * treats it as shared and copies before it adds into it. Any other array it returns is
 * taken over by the engine, which may write into it.
 */
export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  backward(gradOutput: FloatArray): (FloatArray | null)[];
}

/** Attaches the graph node to out when any input needs a gradient; returns out. */
export function record(
  out: Tensor,
  name: string,
  inputs: readonly Tensor[],
  backward: GradNode['backward'],
): Tensor {
  if (!isGradEnabled() || !inputs.some((t) => t.requiresGrad)) return out;
  out.requiresGrad = true;
  out.gradFn = { name, inputs, backward };
  return out;
}

/** A gradient waiting to be used, and whether the engine may write into it. */
interface Pending {
  data: FloatArray;
  owned: boolean;
}

/**
 * Orders the graph below root so that every tensor comes after all the tensors computed from
 * it. Iterative depth-first search: a chain 100,000 ops deep must not overflow the stack.
 */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>([root]);
  const stack: { tensor: Tensor; next: number }[] = [{ tensor: root, next: 0 }];

  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    const inputs = frame.tensor.gradFn?.inputs ?? [];
    if (frame.next < inputs.length) {
      const input = inputs[frame.next++];
      if (input.requiresGrad && !visited.has(input)) {
        visited.add(input);
        stack.push({ tensor: input, next: 0 });
      }
      continue;
    }
    order.push(frame.tensor);
    stack.pop();
  }
  return order.reverse();
}

function accumulate(pending: Map<Tensor, Pending>, tensor: Tensor, grad: Pending): void {
  const existing = pending.get(tensor);
  if (existing === undefined) {
    pending.set(tensor, grad);
    return;
  }

  // Gradients of a tensor used more than once add up.
  const sum = existing.owned ? existing.data : allocLike(grad.data, grad.data.length);
  addInto(existing.data, grad.data, sum);
  pending.set(tensor, { data: sum, owned: true });
}

/** out = a + b for arrays of one length. */
function addInto(a: FloatArray, b: FloatArray, out: FloatArray): void {
  const shape = [a.length];
  backendFor(a).binaryForward('add', a, shape, b, shape, out, shape);
}

function addIntoLeaf(leaf: Tensor, grad: Pending): void {
  if (leaf.grad === null) {
    const data = grad.owned ? grad.data : grad.data.slice();
    // The leaf's own class builds its gradient; importing Tensor here would be circular.
    const TensorClass = leaf.constructor as new (d: FloatArray, s: readonly number[]) => Tensor;
    leaf.grad = new TensorClass(data, leaf.shape);
    return;
  }
  addInto(leaf.grad.data, grad.data, leaf.grad.data);
}

function seedGradient(root: Tensor, gradient: Tensor | undefined): FloatArray {
  if (gradient === undefined) {
    if (root.numel !== 1) {
      throw new RangeError(
        `backward(): expected a gradient argument for a tensor of shape ` +
          `${shapeString(root.shape)}; only a one-element tensor can omit it`,
      );
    }
    const one = root.data.slice(0, 1);
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

/**
 * Reverse-mode differentiation from root: walks the graph from the output back to the
 * leaves, passing each op's output gradient through its backward (the chain rule) and
 * adding the result into the .grad of every leaf that requires one.
 */
export function backward(root: Tensor, gradient?: Tensor): void {
  if (!root.requiresGrad) {
    throw new RangeError(
      'backward(): expected a tensor that requires grad, received one that does not ' +
        '(was it computed inside noGrad(), or from tensors without requiresGrad?)',
    );
  }
  const pending = new Map<Tensor, Pending>();
  pending.set(root, { data: seedGradient(root, gradient), owned: false });

  for (const tensor of topologicalOrder(root)) {
    const grad = pending.get(tensor);
    if (grad === undefined) continue;
    pending.delete(tensor);

    const node = tensor.gradFn;
    if (node === null) {
      addIntoLeaf(tensor, grad);
      continue;
    }
    const inputGrads = node.backward(grad.data);
    node.inputs.forEach((input, i) => {
      const g = inputGrads[i];
      if (!input.requiresGrad || g === null || g === undefined) return;
      // The engine may write into an array handed to one input only, and made by the backward
      // (or given to it by the engine as writable).
      const once = inputGrads.indexOf(g) === inputGrads.lastIndexOf(g);
      const owned = once && (g !== grad.data || grad.owned);
      accumulate(pending, input, { data: g, owned });
    });
  }
}
