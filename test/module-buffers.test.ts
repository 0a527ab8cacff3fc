/**
 * Module buffers (PyTorch's register_buffer): state saved in the state dict that is not a
 * parameter, in PyTorch's order, loaded in place, and left out of parameters().
 */
import { describe, expect, it } from 'vitest';

import { deserialize, serialize } from '../lib/io';
import { BatchNorm1d, Linear, Module, ReLU, Sequential } from '../lib/nn';
import { ones, Tensor, tensor, zeros } from '../lib/tensor';

class Counter extends Module {
  scale: Tensor;
  steps: Tensor | null;
  inner = new Linear(2, 1);
  absent: Tensor | null;

  constructor() {
    super();
    this.scale = this.param(ones([2]));
    this.steps = this.buffer(zeros([]));
    this.absent = this.registerBuffer('absent', null);
  }

  forward(x: Tensor): Tensor {
    return this.inner.forward(x.mul(this.scale));
  }
}

describe('Module buffers', () => {
  it('are in the state dict after their module’s parameters and before its children', () => {
    const m = new Counter();
    m.registerBuffer('late', tensor([7]));
    expect(Object.keys(m.stateDict())).toEqual([
      'scale',
      'steps',
      'late',
      'inner.weight',
      'inner.bias',
    ]);
  });

  it('are not parameters, need no gradient, and have dotted names', () => {
    const model = new Sequential(new Linear(3, 4), new BatchNorm1d(4), new ReLU());
    expect(model.parameters()).toHaveLength(4);
    expect(model.buffers().every((b) => !b.requiresGrad)).toBe(true);
    expect([...model.namedBuffers()].map(([name]) => name)).toEqual([
      '1.running_mean',
      '1.running_var',
      '1.num_batches_tracked',
    ]);
    // PyTorch's state_dict of nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU()).
    expect(Object.keys(model.stateDict())).toEqual([
      '0.weight',
      '0.bias',
      '1.weight',
      '1.bias',
      '1.running_mean',
      '1.running_var',
      '1.num_batches_tracked',
    ]);
  });

  it('a null buffer is left out of the state dict, as PyTorch’s register_buffer(name, None)', () => {
    const m = new Counter();
    expect(m.absent).toBeNull();
    expect(Object.keys(m.stateDict())).not.toContain('absent');
    expect(m.buffers()).toHaveLength(1);
  });

  it('load in place, so a tensor held elsewhere sees the new values', () => {
    const m = new Counter();
    const held = m.steps!;
    const dict = m.stateDict();
    const result = m.loadStateDict({ ...dict, steps: tensor(5) });
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(m.steps).toBe(held);
    expect(held.item()).toBe(5);
  });

  it('count as missing when a strict load leaves them out, and are shape-checked', () => {
    const m = new Counter();
    const { steps: _steps, ...rest } = m.stateDict();
    expect(() => m.loadStateDict(rest)).toThrow('loadStateDict: missing keys steps');
    expect(m.loadStateDict(rest, { strict: false }).missingKeys).toEqual(['steps']);
    expect(() => m.loadStateDict({ ...rest, steps: tensor([1, 2]) })).toThrow(
      'loadStateDict(steps): expected shape [], received [2]',
    );
  });

  it('shared by two modules are listed once by namedBuffers and under both names saved', () => {
    const a = new BatchNorm1d(2);
    const parent = new Sequential(a, a);
    expect(parent.buffers()).toHaveLength(3);
    expect(Object.keys(parent.stateDict()).filter((k) => k.includes('running_mean'))).toEqual([
      '0.running_mean',
      '1.running_mean',
    ]);
  });

  it('go through safetensors with the parameters and come back', () => {
    const bn = new BatchNorm1d(3);
    bn.forward(
      tensor([
        [1, 2, 3],
        [4, 6, 8],
        [0, 1, 5],
      ]),
    );
    const bytes = serialize(bn.stateDict());
    // The counter is a float64 scalar (exact to 2^53), which PyTorch's load_state_dict copies
    // into its int64 buffer.
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString());
    expect(header.num_batches_tracked).toMatchObject({ dtype: 'F64', shape: [] });
    const restored = new BatchNorm1d(3);
    restored.loadStateDict(deserialize(bytes));
    expect(restored.running_mean!.data).toEqual(bn.running_mean!.data);
    expect(restored.running_var!.data).toEqual(bn.running_var!.data);
    expect(restored.num_batches_tracked!.item()).toBe(1);
  });

  it('reject bad names and values, and a tensor that is already a parameter', () => {
    const m = new Counter();
    expect(() => m.registerBuffer('a.b', zeros([1]))).toThrow(
      'registerBuffer(name): expected a non-empty name without dots, received "a.b"',
    );
    expect(() => m.registerBuffer('x', 3 as never)).toThrow(
      'registerBuffer(value): expected a Tensor or null, received 3',
    );
    expect(() => m.registerBuffer('x', m.scale)).toThrow(
      'Module.buffer(value): expected a Tensor that is not a parameter',
    );
    expect(() => m.registerParameter('y', m.steps!)).toThrow(
      'Module.param(value): expected a Tensor that is not a buffer',
    );
  });

  it('refuse a name held by something else, as PyTorch ("attribute already exists")', () => {
    // Before, the buffer replaced the parameter in silence: parameters() lost the weight, so
    // an optimizer built afterwards no longer trained it.
    const linear = new Linear(2, 3);
    expect(() => linear.registerBuffer('weight', zeros([3, 2]))).toThrow(
      new RangeError(
        'registerBuffer(name): expected a name that is free or holds a buffer, received ' +
          '"weight", which holds a parameter',
      ),
    );
    expect(linear.parameters()).toHaveLength(2);
    expect(() => linear.registerBuffer('forward', zeros([1]))).toThrow('which holds a method');
    const bn = new BatchNorm1d(2);
    expect(() => bn.registerParameter('running_mean', zeros([2]))).toThrow(
      'registerParameter(name): expected a name that is free or holds a parameter, received ' +
        '"running_mean", which holds a buffer',
    );
    expect(() => bn.registerModule('bias', new ReLU())).toThrow('which holds a parameter');

    // A name that is unset, null, or of the same kind may be registered again.
    bn.registerBuffer('running_mean', ones([2]));
    bn.registerParameter('weight', ones([2]));
    const m = new Counter();
    m.registerBuffer('absent', zeros([1]));
    expect(Object.keys(m.stateDict())).toContain('absent');
  });
});
