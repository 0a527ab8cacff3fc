import { Tensor } from '../tensor';
import { rangeError, shapeString, typeError, verbatim } from '../errors';
import { sameShape } from '../tensor/shape';

/** Tensors that were made parameters with {@link Module.param} or registerParameter. */
const parameterTensors = new WeakSet<Tensor>();
/** Tensors that were made buffers with {@link Module.buffer} or registerBuffer. */
const bufferTensors = new WeakSet<Tensor>();

/** What {@link Module.loadStateDict} found when `strict` is false. */
export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/**
 * Base class of every layer and model, with PyTorch's `nn.Module` vocabulary.
 *
 * A parameter is a tensor wrapped by `this.param(...)` and stored on a property; a child is a
 * Module stored on a property. Both are found by walking the module's own properties, so their
 * order (in `parameters()`, `namedParameters()` and `stateDict()`) is the order in which the
 * properties were first assigned, and their names are the property names joined with dots
 * ("fc1.weight", "0.bias"). A plain tensor that was not wrapped by `param` is not a parameter,
 * as in PyTorch; modules kept in arrays or maps are not children (use {@link Sequential}).
 * A buffer (`this.buffer(...)`, PyTorch's register_buffer) is state that is not learned, such
 * as BatchNorm's running statistics: it is in the state dict, after the module's own
 * parameters, but not in `parameters()`.
 *
 * @example
 * class Mlp extends Module {
 *   fc1 = new Linear(784, 256);
 *   fc2 = new Linear(256, 10);
 *   forward(x: Tensor): Tensor {
 *     return this.fc2.forward(this.fc1.forward(x).relu());
 *   }
 * }
 * const model = new Mlp();
 * Object.keys(model.stateDict()); // ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
 */
export abstract class Module {
  /** True in training mode (the default), false after {@link Module.eval}. */
  training = true;

  /** Computes the module's output. Subclasses define it. */
  abstract forward(...inputs: any[]): Tensor;

  /** Same as `forward`, the way `module(x)` reads in PyTorch. */
  call(...inputs: Parameters<this['forward']>): Tensor {
    return this.forward(...inputs);
  }

  /**
   * Marks a tensor as a parameter of this module (it then requires a gradient) and returns it,
   * to be stored on a property: `this.weight = this.param(zeros([out, in]))`.
   */
  protected param(value: Tensor): Tensor {
    if (!(value instanceof Tensor)) throw typeError('Module.param(value)', 'a Tensor', value);
    if (bufferTensors.has(value)) {
      throw rangeError('Module.param(value)', 'a Tensor that is not a buffer', value);
    }
    value.requiresGrad = true;
    parameterTensors.add(value);
    return value;
  }

  /**
   * Marks a tensor as a buffer of this module (state saved in the state dict that is not a
   * parameter: no gradient, not in `parameters()`) and returns it, to be stored on a property:
   * `this.running_mean = this.buffer(zeros([c]))`.
   */
  protected buffer(value: Tensor): Tensor {
    if (!(value instanceof Tensor)) throw typeError('Module.buffer(value)', 'a Tensor', value);
    if (parameterTensors.has(value)) {
      throw rangeError('Module.buffer(value)', 'a Tensor that is not a parameter', value);
    }
    bufferTensors.add(value);
    return value;
  }

  /**
   * Stores `value` as the buffer `name`, as `this[name] = this.buffer(value)` does; null stores
   * an absent buffer, left out of the state dict (as PyTorch's register_buffer(name, None)).
   *
   * @example
   * this.registerBuffer('steps', zeros([]));
   */
  registerBuffer(name: string, value: Tensor | null): Tensor | null {
    checkName('registerBuffer(name)', name);
    if (value !== null && !(value instanceof Tensor)) {
      throw typeError('registerBuffer(value)', 'a Tensor or null', value);
    }
    this.checkFree('registerBuffer(name)', name, 'buffer');
    (this as Record<string, unknown>)[name] = value === null ? null : this.buffer(value);
    return value;
  }

  /** Stores `value` as the parameter `name`, as `this[name] = this.param(value)` does. */
  registerParameter(name: string, value: Tensor): Tensor {
    checkName('registerParameter(name)', name);
    this.checkFree('registerParameter(name)', name, 'parameter');
    (this as Record<string, unknown>)[name] = this.param(value);
    return value;
  }

  /** Stores `module` as the child `name`, as `this[name] = module` does. */
  registerModule<M extends Module>(name: string, module: M): M {
    checkName('registerModule(name)', name);
    if (!(module instanceof Module)) throw typeError('registerModule(module)', 'a Module', module);
    this.checkFree('registerModule(name)', name, 'module');
    (this as Record<string, unknown>)[name] = module;
    return module;
  }

  /**
   * Throws unless `name` is free for a `kind`: unset, null, or already one of that kind, as
   * PyTorch raises "attribute already exists". Registering a buffer as `weight` would otherwise
   * turn a parameter into a buffer in silence (the optimizer no longer training it), and one
   * named `forward` would hide the method.
   */
  private checkFree(where: string, name: string, kind: 'buffer' | 'parameter' | 'module'): void {
    if (!(name in this)) return;
    const current = (this as Record<string, unknown>)[name];
    if (current === undefined || current === null) return;
    const same =
      kind === 'module'
        ? current instanceof Module
        : current instanceof Tensor &&
          (kind === 'buffer' ? bufferTensors : parameterTensors).has(current);
    if (!same) {
      const held = verbatim(`"${name}", which holds ${holding(current)}`);
      throw rangeError(where, `a name that is free or holds a ${kind}`, held);
    }
  }

  /** The direct children with their property names, in registration order. */
  *namedChildren(): IterableIterator<[string, Module]> {
    for (const [name, value] of Object.entries(this)) {
      if (value instanceof Module) yield [name, value];
    }
  }

  /** The direct children, in registration order. */
  *children(): IterableIterator<Module> {
    for (const [, child] of this.namedChildren()) yield child;
  }

  /** This module and every descendant, depth first, each once, with dotted names ('' for this). */
  *namedModules(prefix = ''): IterableIterator<[string, Module]> {
    const seen = new Set<Module>();
    const stack: [string, Module][] = [[prefix, this]];
    while (stack.length > 0) {
      const [name, module] = stack.pop()!;
      if (seen.has(module)) continue;
      seen.add(module);
      yield [name, module];

      const children = [...module.namedChildren()].reverse();
      for (const [childName, child] of children) {
        stack.push([name === '' ? childName : `${name}.${childName}`, child]);
      }
    }
  }

  /** This module and every descendant, depth first, each once. */
  *modules(): IterableIterator<Module> {
    for (const [, module] of this.namedModules()) yield module;
  }

  /**
   * Every parameter with its dotted name ('fc1.weight', '0.bias'), in registration order. A
   * parameter shared by two modules is listed once, under its first name.
   */
  *namedParameters(): IterableIterator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    for (const [name, tensor] of this.allNamedParameters()) {
      if (seen.has(tensor)) continue;
      seen.add(tensor);
      yield [name, tensor];
    }
  }

  /** Every parameter once, in registration order: what an optimizer takes. */
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, tensor]) => tensor);
  }

  /** Every buffer with its dotted name ('bn.running_mean'), each once, in registration order. */
  *namedBuffers(): IterableIterator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    for (const [name, tensor] of this.allNamedState()) {
      if (seen.has(tensor) || !bufferTensors.has(tensor)) continue;
      seen.add(tensor);
      yield [name, tensor];
    }
  }

  /** Every buffer once, in registration order. */
  buffers(): Tensor[] {
    return [...this.namedBuffers()].map(([, tensor]) => tensor);
  }

  /** Sets training mode on this module and every descendant, and returns this. */
  train(mode = true): this {
    for (const module of this.modules()) module.training = mode;
    return this;
  }

  /** Sets evaluation mode (`train(false)`) and returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Drops every parameter's gradient (sets it to null, as PyTorch's default does). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /**
   * Every parameter and buffer under its dotted name, as tensors that share their data and carry
   * no graph, in PyTorch's order: each module's parameters, then its buffers, then its children.
   * Save it with `save(model.stateDict(), path)`.
   */
  stateDict(): Record<string, Tensor> {
    const dict: Record<string, Tensor> = {};
    for (const [name, tensor] of this.allNamedState()) dict[name] = tensor.detach();
    return dict;
  }

  /**
   * Copies the values of `dict` into the parameters and buffers in place (an optimizer holding
   * them keeps
   * working). Everything is checked before anything is copied: a shape mismatch always throws,
   * and with `strict` (the default) so does a missing or an unexpected key.
   *
   * @example
   * model.loadStateDict(load('mnist-mlp.safetensors'));
   */
  loadStateDict(
    dict: Record<string, Tensor>,
    { strict = true }: { strict?: boolean } = {},
  ): LoadStateDictResult {
    if (dict === null || typeof dict !== 'object') {
      throw typeError('loadStateDict(dict)', 'an object of tensors', dict);
    }
    const own = new Map(this.allNamedState());
    const missingKeys = [...own.keys()].filter((key) => !Object.hasOwn(dict, key));
    const unexpectedKeys = Object.keys(dict).filter((key) => !own.has(key));

    for (const [key, target] of own) {
      if (!Object.hasOwn(dict, key)) continue;
      const source = dict[key];
      if (!(source instanceof Tensor)) throw typeError(`loadStateDict(${key})`, 'a Tensor', source);
      if (!sameShape(source.shape, target.shape)) {
        throw new RangeError(
          `loadStateDict(${key}): expected shape ${shapeString(target.shape)}, ` +
            `received ${shapeString(source.shape)}`,
        );
      }
    }
    if (strict && (missingKeys.length > 0 || unexpectedKeys.length > 0)) {
      const parts: string[] = [];
      if (missingKeys.length > 0) parts.push(`missing keys ${missingKeys.join(', ')}`);
      if (unexpectedKeys.length > 0) parts.push(`unexpected keys ${unexpectedKeys.join(', ')}`);
      throw new RangeError(`loadStateDict: ${parts.join('; ')}`);
    }

    for (const [key, target] of own) {
      if (Object.hasOwn(dict, key)) target.data.set(dict[key].data);
    }
    return { missingKeys, unexpectedKeys };
  }

  /** The layer's constructor arguments as PyTorch prints them, for toString(). */
  protected extraRepr(): string {
    return '';
  }

  /** A PyTorch-style printout: `Sequential(\n  (0): Linear(in_features=784, ...)\n)`. */
  toString(): string {
    const children = [...this.namedChildren()];
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (children.length === 0) return `${head})`;

    const lines = children.map(
      ([name, child]) => `  (${name}): ${String(child).split('\n').join('\n  ')}`,
    );
    return `${head}\n${lines.join('\n')}\n)`;
  }

  /** Every parameter under every name it has, duplicates included. */
  private *allNamedParameters(): IterableIterator<[string, Tensor]> {
    for (const entry of this.allNamedState()) {
      if (parameterTensors.has(entry[1])) yield entry;
    }
  }

  /**
   * Every parameter and buffer under every name it has, duplicates included (what stateDict
   * saves, as PyTorch's state_dict lists a module shared by two parents under both names):
   * each module's parameters, then its buffers, then its children's.
   */
  private *allNamedState(
    prefix = '',
    ancestors = new Set<Module>(),
  ): IterableIterator<[string, Tensor]> {
    const path = (name: string) => (prefix === '' ? name : `${prefix}.${name}`);
    for (const kind of [parameterTensors, bufferTensors]) {
      for (const [name, value] of Object.entries(this)) {
        if (value instanceof Tensor && kind.has(value)) yield [path(name), value];
      }
    }
    // A module that contains itself would recurse forever; PyTorch's walk skips it too.
    ancestors.add(this);
    for (const [name, child] of this.namedChildren()) {
      if (!ancestors.has(child)) yield* child.allNamedState(path(name), ancestors);
    }
    ancestors.delete(this);
  }
}

/** What a module's property holds, in words, for messages. */
function holding(value: unknown): string {
  if (value instanceof Tensor) {
    if (parameterTensors.has(value)) return 'a parameter';
    return bufferTensors.has(value) ? 'a buffer' : 'a plain tensor';
  }
  if (value instanceof Module) return 'a module';
  return typeof value === 'function' ? 'a method' : `a ${typeof value}`;
}

function checkName(where: string, name: unknown): void {
  if (typeof name !== 'string') throw typeError(where, 'a non-empty name without dots', name);
  if (name === '' || name.includes('.')) {
    throw rangeError(where, 'a non-empty name without dots', name);
  }
}
