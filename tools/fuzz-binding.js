#!/usr/bin/env node
// Fuzzes every function the native addon exports: random argument kinds, lengths, shapes,
// negative and huge sizes, NaN and infinities, typed arrays that are detached, offset into
// their buffer, backed by a SharedArrayBuffer or a resizable ArrayBuffer, and arrays whose
// element getters detach another argument while the binding reads them.
//
//   node tools/fuzz-binding.js [--seed 1] [--calls 100000] [--start 0] [--print] [--addon file]
//
// --addon loads another build of the addon (tools/asan.sh passes its sanitizer build).
// Functions are enumerated at run time and their parameters inferred from the binding's own
// messages ("fn(param): expected X, received Y"), so a binding added later is fuzzed without
// a table to update. Every call is drawn from its own generator seeded by (seed, index), so
// `--start N --calls 1 --print` replays call N alone. A call that throws anything but a
// TypeError or RangeError of that message shape is a failure (exit 1); a crash kills this
// process, which is why the test runs it as a child. With --print every call is written to
// stderr before it runs, so the last line names the call that killed the process.

'use strict';

const path = require('node:path');
const { parseArgs } = require('node:util');

const root = path.resolve(__dirname, '..');
const MESSAGE = /^(\w+)\(([^)]*)\): expected ([^]+?), received ([^]*)$/;
const MAX_ARGS = 16;

// ---------------------------------------------------------------------------------------------
// A small seeded generator (mulberry32) per call.

function generator(seed, index) {
  let state = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index | 0, 0x85ebca6b)) >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (list) => list[int(list.length)];
  return { next, int, pick, chance: (p) => next() < p };
}

// ---------------------------------------------------------------------------------------------
// Values.

const EDGE_NUMBERS = [
  0,
  -0,
  1,
  2,
  3,
  -1,
  -2,
  0.5,
  1.5,
  NaN,
  Infinity,
  -Infinity,
  255,
  1024,
  65536,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 32 + 1,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  1e300,
  -1e300,
  5e-324,
  -(2 ** 31),
  -(2 ** 53),
];
const SPECIAL_FLOATS = [0, -0, 1, -1, NaN, Infinity, -Infinity, 3.4e38, -3.4e38, 1e-45, 88, -88];
const STRINGS = ['add', 'sub', 'mul', 'div', 'scalar', 'avx2', 'avx512', '', 'a\0dd', 'x'];
const LENGTHS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 24, 32, 64, 100, 256, 1024];

/** A live list of the typed arrays of the current call, for getters that detach them. */
let currentViews = [];

function detach(view) {
  const buffer = view.buffer;
  // Node 20 has no ArrayBuffer.prototype.detached; a detached buffer has no bytes left.
  if (buffer instanceof ArrayBuffer && buffer.byteLength > 0) {
    structuredClone(buffer, { transfer: [buffer] });
  }
}

function fillFloats(r, view) {
  for (let i = 0; i < view.length; i++) {
    view[i] = r.chance(0.1) ? r.pick(SPECIAL_FLOATS) : (r.next() - 0.5) * 8;
  }
  return view;
}

function fillInts(r, view) {
  for (let i = 0; i < view.length; i++) {
    view[i] = r.chance(0.05) ? r.pick([-1, -(2 ** 31), 2 ** 31 - 1, 1000]) : r.int(6);
  }
  return view;
}

/** A Float32Array or Int32Array of `length` elements in one of several kinds of storage. */
function typedArray(r, Type, length) {
  const bytes = length * Type.BYTES_PER_ELEMENT;
  const offset = r.chance(0.15) ? Type.BYTES_PER_ELEMENT * (1 + r.int(3)) : 0;
  let view;
  switch (r.int(8)) {
    case 0:
      view = new Type(new SharedArrayBuffer(offset + bytes), offset, length);
      break;
    case 1: {
      const buffer = new ArrayBuffer(offset + bytes, { maxByteLength: 2 * (offset + bytes) + 8 });
      view = r.chance(0.5) ? new Type(buffer, offset) : new Type(buffer, offset, length);
      break;
    }
    default:
      view = new Type(new ArrayBuffer(offset + bytes), offset, length);
  }
  const filled = Type === Int32Array ? fillInts(r, view) : fillFloats(r, view);
  if (r.chance(0.03)) detach(filled);
  currentViews.push(filled);
  return filled;
}

function randomShape(r) {
  const shape = Array.from({ length: r.int(5) }, () => r.int(5));
  if (r.chance(0.1)) shape.push(r.pick(EDGE_NUMBERS));
  return shape;
}

/** What a treacherous getter throws: the one exception a call may pass through unchanged. */
const GETTER_ERROR = new Error('thrown by an element getter of the fuzz');

/**
 * An array whose elements are read through getters that detach or shrink the call's other
 * arguments, or throw.
 */
function treacherousArray(r, length) {
  const throws = r.chance(0.3);
  const out = [];
  for (let i = 0; i < length; i++) {
    Object.defineProperty(out, i, {
      enumerable: true,
      get() {
        if (throws) throw GETTER_ERROR;
        for (const view of currentViews) {
          if (view.buffer.byteLength === 0) continue;
          if (view.buffer.resizable) view.buffer.resize(0);
          else detach(view);
        }
        return 1;
      },
    });
  }
  return out;
}

/** Any value at all, for the chaos cases. */
function anyValue(r) {
  switch (r.int(16)) {
    case 0:
    case 1:
      return r.pick(EDGE_NUMBERS);
    case 2:
      return r.int(10);
    case 3:
    case 4:
      return typedArray(r, Float32Array, r.pick(LENGTHS));
    case 5:
      return typedArray(r, Int32Array, r.pick(LENGTHS));
    case 6:
      return new (r.pick([Float64Array, Uint8Array, Int16Array, Uint32Array, BigInt64Array]))(8);
    case 7:
      return randomShape(r);
    case 8:
      return treacherousArray(r, 1 + r.int(4));
    case 9:
      return r.pick(STRINGS.concat(['x'.repeat(1000), 'ünïcode']));
    case 10:
      return r.chance(0.5);
    case 11:
      return r.pick([undefined, null, {}, [], Symbol('s'), 1n, () => 1, new Date(0)]);
    case 12:
      return r.pick([new ArrayBuffer(16), new DataView(new ArrayBuffer(16)), new Array(9).fill(1)]);
    case 13:
      return Array.from({ length: r.int(10) }, () => anyValue(r));
    case 14:
      return { length: 4, 0: 1, 1: 2, valueOf: () => 3 };
    default:
      return r.pick(SPECIAL_FLOATS);
  }
}

// ---------------------------------------------------------------------------------------------
// Inferring each function's parameters from its messages.

function kindOf(expected) {
  if (/Float32Array/.test(expected)) return 'f32';
  if (/Int32Array/.test(expected)) return 'i32';
  if (/^a boolean/.test(expected)) return 'bool';
  if (/^an? (safe )?integer/.test(expected)) return 'size';
  if (/^a (finite )?number/.test(expected)) return 'number';
  if (/^one of "|^a string/.test(expected)) return 'string';
  if (/array of|permutation|broadcasts|class index/.test(expected)) return 'array';
  return null;
}

/** The smallest value of a kind that the message asks for (sizes of at least 2 where free). */
function valueFor(kind, expected) {
  const min = /(?:>= |\[)(\d+)/.exec(expected);
  const need = /at least (\d+) elements/.exec(expected);
  switch (kind) {
    case 'f32':
      return new Float32Array(need ? Number(need[1]) : 4).fill(0.5);
    case 'i32':
      return new Int32Array(need ? Number(need[1]) : 4);
    case 'bool':
      return false;
    case 'size': {
      // A bounded size ("an integer in [0, 1]") takes the value nearest 2 inside its bounds.
      const range = /in \[(\d+), (\d+)\]/.exec(expected);
      if (range) return Math.min(Math.max(2, Number(range[1])), Number(range[2]));
      return Math.max(2, min ? Number(min[1]) : 0);
    }
    case 'number':
      return 0.5;
    case 'string':
      return (/"([^"]*)"/.exec(expected) ?? [, 'x'])[1];
    default:
      return arrayFor(expected);
  }
}

function arrayFor(expected) {
  const permutation = /permutation of \[0, (\d+)\)/.exec(expected);
  if (permutation) return Array.from({ length: Number(permutation[1]) }, (_, i) => i);
  const target = /outShape (\[[^\]]*\])/.exec(expected);
  if (target) return JSON.parse(target[1]);
  return [2];
}

function parse(error) {
  if (!(error instanceof TypeError || error instanceof RangeError)) return null;
  const match = MESSAGE.exec(error.message);
  return match && { param: match[2], expected: match[3] };
}

function attempt(fn, args) {
  try {
    fn(...args);
    return null;
  } catch (error) {
    return parse(error) ?? { failure: error };
  }
}

/**
 * Valid arguments and the kind of each, found by calling fn: each error names a parameter;
 * the first free position whose value changes the error is that parameter's position.
 */
function infer(fn) {
  const args = [];
  const kinds = [];
  const positions = new Map();
  for (let tries = 0; tries < 100; tries++) {
    const error = attempt(fn, args);
    if (error === null) return { args, kinds };
    if (error.failure) return null;
    const name = error.param.replace(/\[\d+\]$/, '');
    const kind = kindOf(error.expected);
    if (kind === null) return null;
    if (positions.has(name)) {
      const i = positions.get(name);
      // A typed array keeps its kind whatever its contents were wrong about (targets[r]).
      const typed = kinds[i] === 'f32' || kinds[i] === 'i32';
      args[i] = valueFor(typed ? kinds[i] : kind, error.expected);
      continue;
    }
    const i = locate(fn, args, kinds, error, valueFor(kind, error.expected));
    if (i < 0) return null;
    positions.set(name, i);
    kinds[i] = kind;
  }
  return null;
}

function locate(fn, args, kinds, error, value) {
  for (let i = 0; i < MAX_ARGS; i++) {
    if (kinds[i] !== undefined) continue;
    const trial = args.slice();
    trial[i] = value;
    const next = attempt(fn, trial);
    if (next === null || next.param !== error.param || next.expected !== error.expected) {
      args[i] = value;
      return i;
    }
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Calls.

/** Arguments of the spec's kinds with random sizes: most pass the checks and reach a kernel. */
function resized(r, spec) {
  return spec.kinds.map((kind, i) => {
    if (r.chance(0.02)) return anyValue(r);
    switch (kind) {
      case 'size':
        return r.chance(0.9) ? r.int(7) : r.pick(EDGE_NUMBERS);
      case 'f32':
        return typedArray(r, Float32Array, r.chance(0.5) ? r.pick(LENGTHS) : 1024);
      case 'i32':
        return typedArray(r, Int32Array, r.chance(0.5) ? r.pick(LENGTHS) : 1024);
      case 'bool':
        return r.chance(0.5);
      case 'number':
        return r.chance(0.8) ? (r.next() - 0.5) * 4 : r.pick(EDGE_NUMBERS);
      case 'array':
        return r.chance(0.5) ? spec.args[i].slice() : randomShape(r);
      default:
        return r.chance(0.9) ? spec.args[i] : r.pick(STRINGS);
    }
  });
}

/**
 * The valid arguments with each size moved by -1 to +2 half the time and arrays long enough
 * for most such sizes: calls whose arguments must agree with one another (a pool's kernel,
 * padding and stride, which must fit the plane) mostly pass the checks and reach the kernel
 * with many geometries, which sizes drawn independently rarely do.
 */
function nudged(r, spec) {
  return spec.kinds.map((kind, i) => {
    const value = spec.args[i];
    switch (kind) {
      case 'size':
        return r.chance(0.5) ? value : Math.max(0, value - 1 + r.int(4));
      case 'f32':
        return typedArray(r, Float32Array, r.chance(0.9) ? 1024 : r.pick(LENGTHS));
      case 'i32':
        return typedArray(r, Int32Array, r.chance(0.9) ? 1024 : r.pick(LENGTHS));
      case 'array':
        return value.slice();
      default:
        return value;
    }
  });
}

/** The valid arguments with one to three replaced by anything. */
function mutated(r, spec) {
  const args = spec.args.map((value) => (ArrayBuffer.isView(value) ? value.slice() : value));
  for (let n = 1 + r.int(3); n > 0; n--) args[r.int(Math.max(1, args.length + 1))] = anyValue(r);
  return args;
}

function chaos(r) {
  return Array.from({ length: r.int(MAX_ARGS + 1) }, () => anyValue(r));
}

function argumentsFor(r, spec) {
  const mode = spec === null ? 2 : r.int(10);
  if (mode < 3) return resized(r, spec);
  if (mode < 5) return nudged(r, spec);
  if (mode < 9) return mutated(r, spec);
  return chaos(r);
}

function describe(value) {
  if (ArrayBuffer.isView(value)) {
    const storage = value.buffer instanceof SharedArrayBuffer ? 'shared ' : '';
    return `${storage}${value.constructor.name}(${value.length}, offset ${value.byteOffset})`;
  }
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 20));
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || typeof value === 'function') return typeof value;
  if (Array.isArray(value)) {
    return `[${Array.from({ length: value.length }, (_, i) => describeElement(value, i)).join()}]`;
  }
  return String(value);
}

function describeElement(array, i) {
  const descriptor = Object.getOwnPropertyDescriptor(array, i);
  return descriptor && descriptor.get ? 'getter' : describe(array[i]);
}

// ---------------------------------------------------------------------------------------------
// The run.

function main() {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string', default: '1' },
      calls: { type: 'string', default: '100000' },
      start: { type: 'string', default: '0' },
      print: { type: 'boolean', default: false },
      addon: { type: 'string' },
    },
  });
  const seed = Number(values.seed);
  const start = Number(values.start);
  const end = start + Number(values.calls);

  const addon = values.addon
    ? require(path.resolve(values.addon))
    : require('node-gyp-build')(root);
  const names = Object.keys(addon).filter((name) => typeof addon[name] === 'function');
  const specs = new Map(names.map((name) => [name, infer(addon[name])]));
  // setThreads(0) restores the automatic policy, the count a fixed one.
  const blas = addon.blasInfo ? addon.blasInfo() : null;
  const blasThreads = blas === null ? null : blas.threadPolicy === 'auto' ? 0 : blas.threads;
  const stats = { seed, start, calls: 0, kernelCalls: 0, rejected: 0, functions: {} };
  for (const name of names)
    stats.functions[name] = { calls: 0, ok: 0, inferred: !!specs.get(name) };
  const failures = [];

  for (let index = start; index < end; index++) {
    const r = generator(seed, index);
    const name = names[r.int(names.length)];
    currentViews = [];
    const args = argumentsFor(r, specs.get(name));
    if (values.print) process.stderr.write(`${index} ${name}(${args.map(describe).join(', ')})\n`);

    const record = stats.functions[name];
    record.calls++;
    stats.calls++;
    try {
      addon[name](...args);
      record.ok++;
      stats.kernelCalls++;
    } catch (error) {
      stats.rejected++;
      if (error !== GETTER_ERROR && parse(error) === null) {
        failures.push({
          index,
          call: `${name}(${args.map(describe).join(', ')})`,
          error: String(error),
        });
      }
    }
  }

  // Leave the process as it was found: the fuzz may have changed the SIMD level and threads.
  if (addon.setSimd) addon.setSimd(process.env.NODEGRAD_SIMD || 'avx512');
  if (blasThreads !== null) addon.setThreads(blasThreads);
  process.stdout.write(JSON.stringify({ ...stats, failures: failures.slice(0, 20) }) + '\n');
  process.exitCode = failures.length > 0 ? 1 : 0;
}

main();
