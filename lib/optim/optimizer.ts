import type { Backend, FloatArray } from '../backend/backend';
import { backendFor } from '../autograd/dispatch';
import { rangeError, shapeString, typeError } from '../errors';
import { Tensor } from '../tensor';

/** One group of parameters as given to an optimizer, with options that override the defaults. */
export type ParamGroupInput<O> = { params: Iterable<Tensor> } & Partial<O>;

/** A group of parameters and the options that apply to them. Options are mutable (schedules). */
export type ParamGroup<O> = { params: Tensor[] } & O;

/** What an optimizer keeps for one parameter between steps. */
export interface ParamState {
  /** Number of updates applied to this parameter. */
  step: number;
  /** Moment buffers by name (momentumBuffer, expAvg, expAvgSq), same dtype as the parameter. */
  [buffer: string]: number | FloatArray;
}

/**
 * A plain-object snapshot of an optimizer: per-parameter state keyed by the parameter's
 * position across all groups (in order), and each group's options with the positions of its
 * parameters. Buffers are copies, so later steps do not change a saved dict.
 */
export interface OptimizerStateDict {
  state: Record<number, ParamState>;
  paramGroups: Array<Record<string, unknown> & { params: number[] }>;
}

/**
 * Names an option in messages: given "lr" it returns e.g. "SGD(lr)" for a constructor option
 * or "SGD(paramGroups[1].lr)" for an option of a group.
 */
export type OptionPath = (option: string) => string;

/** Throws unless value is a finite number >= min (and < max when max is given). */
export function checkOption(
  where: string,
  value: unknown,
  min: number,
  maxExclusive?: number,
): number {
  const expected =
    maxExclusive === undefined
      ? `a finite number >= ${min}`
      : `a finite number in [${min}, ${maxExclusive})`;
  if (typeof value !== 'number') throw typeError(where, expected, value);
  const ok =
    Number.isFinite(value) && value >= min && (maxExclusive === undefined || value < maxExclusive);
  if (!ok) throw rangeError(where, expected, value);
  return value;
}

function isTensor(value: unknown): value is Tensor {
  return value instanceof Tensor;
}

function isIterable(value: unknown): value is Iterable<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function'
  );
}

/** Copies array-valued options (betas) so groups and snapshots never share them. */
function copyOptions<T extends object>(options: T): T {
  const copy: Record<string, unknown> = { ...(options as Record<string, unknown>) };
  for (const [key, value] of Object.entries(copy)) {
    if (Array.isArray(value) && key !== 'params') copy[key] = [...value];
  }
  return copy as T;
}

/** Whether every option of `last` (arrays element by element) still has its value in group. */
function sameOptions(group: object, last: Record<string, unknown>): boolean {
  const now = group as Record<string, unknown>;
  for (const key in last) {
    const a = now[key];
    const b = last[key];
    if (a === b) continue;
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  }
  return true;
}

function copyBuffer(source: FloatArray, dtype: Tensor['dtype']): FloatArray {
  return dtype === 'float64' ? Float64Array.from(source) : Float32Array.from(source);
}

/**
 * The base of every optimizer, with PyTorch's semantics: parameters in groups that each carry
 * their own options, `step()` updates every parameter that has a gradient, `zeroGrad()` sets
 * each gradient to null, and `stateDict()` / `loadStateDict()` save and restore the state.
 *
 * Subclasses give the option defaults, validate options, and update one parameter at a time
 * with one backend kernel.
 */
export abstract class Optimizer<O extends object> {
  readonly paramGroups: ParamGroup<O>[] = [];
  readonly defaults: Readonly<O>;
  /** Per-parameter state, created on a parameter's first update. */
  protected readonly state = new Map<Tensor, ParamState>();

  /** The class name used in messages, e.g. "SGD". */
  protected readonly name: string;

  protected constructor(
    name: string,
    params: Iterable<Tensor> | Iterable<ParamGroupInput<O>>,
    defaults: O,
    options: Partial<O> = {},
  ) {
    this.name = name;
    this.checkKeys(`${name}(options)`, options, defaults);
    const merged = { ...defaults, ...options };
    this.validate(merged, (option) => `${name}(${option})`);
    this.defaults = Object.freeze(copyOptions(merged));

    if (!isIterable(params) || isTensor(params)) {
      throw typeError(
        `${this.name}(params)`,
        'an iterable of tensors or of parameter groups',
        params,
      );
    }
    const list = [...params] as unknown[];
    if (list.length === 0) {
      throw rangeError(`${this.name}(params)`, 'at least one parameter', []);
    }
    if (list.every(isTensor)) {
      this.addParamGroup({ params: list as Tensor[] } as unknown as ParamGroupInput<O>);
    } else {
      list.forEach((group, g) => {
        this.addGroup(group as ParamGroupInput<O>, (path) => `${name}(params[${g}]${path})`);
      });
    }
  }

  /**
   * Throws a TypeError or RangeError naming the first bad option of a group; `at` gives the
   * option's name in messages.
   */
  protected abstract validate(options: O, at: OptionPath): void;

  /** Updates one parameter in place from its gradient; state is created on first use. */
  protected abstract updateParameter(
    backend: Backend,
    param: Tensor,
    grad: Tensor,
    group: ParamGroup<O>,
  ): void;

  /** Throws on an option name the optimizer does not have (a typo would be ignored). */
  private checkKeys(where: string, options: object, known: object): void {
    if (options === null || typeof options !== 'object') {
      throw typeError(where, 'an object of options', options);
    }
    for (const key of Object.keys(options)) {
      if (key !== 'params' && !Object.hasOwn(known, key)) {
        throw rangeError(where, `options among ${Object.keys(known).join(', ')}`, key);
      }
    }
  }

  /**
   * Adds a group of parameters, with options that override this optimizer's defaults.
   *
   * @example
   * opt.addParamGroup({ params: head.parameters(), lr: 0.01 });
   */
  addParamGroup(group: ParamGroupInput<O>): void {
    this.addGroup(group, (path) => `${this.name}.addParamGroup(group${path})`);
  }

  /** addParamGroup, with `at` naming the group (path "") or a part of it (".lr") in messages. */
  private addGroup(group: ParamGroupInput<O>, at: (path: string) => string): void {
    if (group === null || typeof group !== 'object' || !isIterable(group.params)) {
      throw typeError(at(''), 'a parameter group { params, ...options }', group);
    }
    const params = [...group.params];
    const seen = new Set<Tensor>(this.paramGroups.flatMap((g) => g.params));
    params.forEach((p, i) => {
      if (!isTensor(p)) throw typeError(at(`.params[${i}]`), 'a Tensor', p);
      if (seen.has(p)) {
        throw new RangeError(
          `${at(`.params[${i}]`)}: expected each parameter in only one group, ` +
            'received a parameter that is already in a group',
        );
      }
      seen.add(p);
    });
    this.checkKeys(at(''), group, this.defaults);
    const full = copyOptions({ ...this.defaults, ...group, params }) as ParamGroup<O>;
    this.validate(full, (option) => at(`.${option}`));
    this.paramGroups.push(full);
  }

  /**
   * Applies one update to every parameter whose gradient is not null, each with one backend
   * kernel (the reference backend for float64 parameters).
   */
  step(): void {
    for (let g = 0; g < this.paramGroups.length; g++) {
      const group = this.paramGroups[g];
      this.validateChanged(group, g);
      for (const param of group.params) {
        const grad = param.grad;
        if (grad === null) continue;
        if (grad.numel !== param.numel || grad.dtype !== param.dtype) {
          throw new RangeError(
            `${this.name}.step(): gradient of a parameter of shape ${shapeString(param.shape)}: ` +
              `expected ${param.numel} ${param.dtype} values, ` +
              `received ${grad.numel} ${grad.dtype} values`,
          );
        }
        this.updateParameter(backendFor(param.data), param, grad, group);
      }
    }
  }

  /** Each group's options as they were when they last passed validate(). */
  private readonly validated = new WeakMap<object, Record<string, unknown>>();

  /**
   * Options are mutable between steps (learning-rate schedules), so they are checked again
   * whenever one changed since the last check; a step with the same options skips it.
   */
  private validateChanged(group: ParamGroup<O>, g: number): void {
    const last = this.validated.get(group);
    if (last !== undefined && sameOptions(group, last)) return;
    this.validate(group, (option) => `${this.name}(paramGroups[${g}].${option})`);
    const { params: _params, ...options } = group;
    this.validated.set(group, copyOptions(options) as Record<string, unknown>);
  }

  /** Sets the gradient of every parameter to null, as PyTorch's zero_grad(set_to_none=True). */
  zeroGrad(): void {
    for (const group of this.paramGroups) {
      for (const param of group.params) param.grad = null;
    }
  }

  /**
   * A snapshot of the state and the group options, as plain objects and typed arrays.
   *
   * @example
   * const saved = opt.stateDict();
   * // ... later, with an optimizer over the same parameters:
   * opt2.loadStateDict(saved);
   */
  stateDict(): OptimizerStateDict {
    const state: Record<number, ParamState> = {};
    const paramGroups: OptimizerStateDict['paramGroups'] = [];
    let index = 0;
    for (const group of this.paramGroups) {
      const { params, ...options } = group;
      const positions: number[] = [];
      for (const param of params) {
        const entry = this.state.get(param);
        if (entry !== undefined) {
          const copy: ParamState = { step: entry.step };
          for (const [key, value] of Object.entries(entry)) {
            if (typeof value !== 'number') copy[key] = copyBuffer(value, param.dtype);
          }
          state[index] = copy;
        }
        positions.push(index++);
      }
      paramGroups.push({ ...copyOptions(options), params: positions });
    }
    return { state, paramGroups };
  }

  /**
   * Restores a snapshot from stateDict(): group options and per-parameter state. The groups
   * must have the same sizes as this optimizer's, and each buffer the size of its parameter.
   */
  loadStateDict(dict: OptimizerStateDict): void {
    const at = (path: string) => `${this.name}.loadStateDict(${path})`;
    if (dict === null || typeof dict !== 'object' || !Array.isArray(dict.paramGroups)) {
      throw typeError(at('dict'), '{ state, paramGroups } from stateDict()', dict);
    }
    const saved = dict.paramGroups;
    if (saved.length !== this.paramGroups.length) {
      throw rangeError(at('paramGroups'), `${this.paramGroups.length} groups`, saved.length);
    }
    saved.forEach((group, g) => {
      const size = this.paramGroups[g].params.length;
      if (!Array.isArray(group?.params) || group.params.length !== size) {
        throw rangeError(
          at(`paramGroups[${g}].params`),
          `${size} parameters`,
          group?.params?.length ?? group?.params,
        );
      }
    });

    // Build everything first, so a bad entry leaves the optimizer as it was.
    const newOptions = saved.map((group, g) => {
      const { params: _positions, ...options } = group;
      this.checkKeys(at(`paramGroups[${g}]`), options, this.defaults);
      const merged = copyOptions({ ...this.defaults, ...options }) as O;
      this.validate(merged, (option) => at(`paramGroups[${g}].${option}`));
      return merged;
    });
    const newState = new Map<Tensor, ParamState>();
    saved.forEach((group, g) => {
      group.params.forEach((position, i) => {
        const entry = dict.state?.[position];
        if (entry === undefined) return;
        const param = this.paramGroups[g].params[i];
        newState.set(
          param,
          this.restoreEntry((path) => at(`state[${position}]${path}`), entry, param),
        );
      });
    });

    newOptions.forEach((options, g) => Object.assign(this.paramGroups[g], options));
    this.state.clear();
    for (const [param, entry] of newState) this.state.set(param, entry);
  }

  /** Checks one saved entry; `at` names the entry (path "") or a part of it (".step"). */
  private restoreEntry(at: (path: string) => string, entry: ParamState, param: Tensor): ParamState {
    if (entry === null || typeof entry !== 'object') {
      throw typeError(at(''), 'an object { step, ...buffers }', entry);
    }
    const step = entry.step;
    if (typeof step !== 'number') throw typeError(at('.step'), 'an integer >= 0', step);
    if (!Number.isInteger(step) || step < 0) {
      throw rangeError(at('.step'), 'an integer >= 0', step);
    }
    const restored: ParamState = { step };
    for (const [key, value] of Object.entries(entry)) {
      if (key === 'step') continue;
      if (!(value instanceof Float32Array || value instanceof Float64Array)) {
        throw typeError(at(`.${key}`), 'a Float32Array or Float64Array', value);
      }
      if (value.length !== param.numel) {
        throw rangeError(at(`.${key}`), `${param.numel} values`, value);
      }
      restored[key] = copyBuffer(value, param.dtype);
    }
    return restored;
  }

  /** The state of one parameter, created empty (step 0) on first use. */
  protected stateOf(param: Tensor): ParamState {
    let entry = this.state.get(param);
    if (entry === undefined) {
      entry = { step: 0 };
      this.state.set(param, entry);
    }
    return entry;
  }

  /** A zero buffer with the parameter's length and dtype. */
  protected zerosLike(param: Tensor): FloatArray {
    return param.dtype === 'float64'
      ? new Float64Array(param.numel)
      : new Float32Array(param.numel);
  }
}
