import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  deserialize,
  deserializeWithMetadata,
  load,
  loadAsync,
  loadWithMetadata,
  parseHeader,
  save,
  saveAsync,
  serialize,
} from '../lib/io';
import { manualSeed, randn, tensor, Tensor } from '../lib/tensor';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodegrad-io-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A safetensors file built byte by byte: length, header text (optionally padded), data. */
function file(header: string | object, data: ArrayLike<number> = [], pad = true): Buffer {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  if (pad) text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const json = Buffer.from(text, 'utf8');
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  out.set(Uint8Array.from(data), 8 + json.length);
  return out;
}

/** Little-endian bytes of some values in a typed array type. */
function bytes(values: ArrayLike<number> | bigint[], type: 'f32' | 'f64' | 'u16' | 'i32' | 'i64') {
  const arrays = {
    f32: Float32Array,
    f64: Float64Array,
    u16: Uint16Array,
    i32: Int32Array,
  } as const;
  const typed =
    type === 'i64'
      ? BigInt64Array.from(values as bigint[])
      : arrays[type].from(values as ArrayLike<number>);
  return Array.from(new Uint8Array(typed.buffer));
}

function rawBytes(t: Tensor): number[] {
  return Array.from(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

const listDir = () => fs.readdirSync(dir).sort();

describe('safetensors encoding', () => {
  it('writes the 8-byte length, a space-padded JSON header and the little-endian data', () => {
    const buf = serialize({ w: tensor([1, -2]) }, { format: 'pt' });
    const headerLength = Number(buf.readBigUInt64LE(0));
    expect((8 + headerLength) % 8).toBe(0);
    const text = buf.subarray(8, 8 + headerLength).toString('utf8');
    expect(text.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
    );
    expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
    expect(Array.from(buf.subarray(8 + headerLength))).toEqual(bytes([1, -2], 'f32'));
  });

  it('round-trips float32 and float64 tensors bit for bit, special values included', () => {
    manualSeed(3);
    const special = new Float32Array([NaN, -0, Infinity, -Infinity, 1e-45, 3.4028234e38, 0.1]);
    // A NaN with a payload must survive too.
    new Uint32Array(special.buffer)[0] = 0x7fc01234;
    const dict = {
      'layer.0.weight': randn([3, 5]),
      'layer.0.bias': tensor(special),
      scalar: new Tensor(new Float32Array([7]), []),
      empty: new Tensor(new Float32Array(0), [0, 3]),
      double: tensor([Math.PI, -1e-300, 2 ** 60], { dtype: 'float64' }),
    };
    const back = deserialize(serialize(dict));
    expect(Object.keys(back)).toEqual(Object.keys(dict));
    for (const [name, t] of Object.entries(dict)) {
      expect(back[name].shape).toEqual(t.shape);
      expect(back[name].dtype).toBe(t.dtype);
      expect(rawBytes(back[name])).toEqual(rawBytes(t));
    }
    expect(new Uint32Array(back['layer.0.bias'].data.buffer)[0]).toBe(0x7fc01234);
  });

  it('writes tensors that are views into a larger buffer', () => {
    const big = new Float32Array([9, 9, 1, 2, 3, 9]);
    const view = new Tensor(big.subarray(2, 5), [3]);
    expect(Array.from(deserialize(serialize({ v: view })).v.data)).toEqual([1, 2, 3]);
  });

  it('keeps a tensor named __proto__ as an ordinary key', () => {
    const back = deserialize(serialize({ ['__proto__']: tensor([5]) } as Record<string, Tensor>));
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['__proto__']);
    expect(Array.from(Object.getOwnPropertyDescriptor(back, '__proto__')!.value.data)).toEqual([5]);
  });

  it('refuses to write what is not a dict of tensors, or a tensor named __metadata__', () => {
    expect(() => serialize({ w: [1, 2] as unknown as Tensor })).toThrow(
      new TypeError('serialize(dict["w"]): expected a Tensor, received [1, 2]'),
    );
    expect(() => serialize({ __metadata__: tensor([1]) })).toThrow(RangeError);
    expect(() => serialize({ __metadata__: tensor([1]) })).toThrow(
      new RangeError(
        'serialize(dict): expected tensor names other than "" and "__metadata__", ' +
          'received "__metadata__"',
      ),
    );
    expect(() => serialize({ w: tensor([1]) }, { n: 1 as unknown as string })).toThrow(
      new TypeError('serialize(metadata["n"]): expected a string, received 1'),
    );
    expect(() => deserialize('bytes' as unknown as Uint8Array)).toThrow(
      new TypeError('safetensors(bytes): expected a Buffer or Uint8Array, received "bytes"'),
    );
  });
});

describe('safetensors files written by other tools', () => {
  it('reads a file as the Python library writes it: metadata, padding, F64 before F32', () => {
    // safetensors (Rust) sorts by dtype size then name and pads the header to 8 with spaces.
    const header = {
      __metadata__: { format: 'pt' },
      'fc.bias': { dtype: 'F64', shape: [2], data_offsets: [0, 16] },
      'fc.weight': { dtype: 'F32', shape: [2, 2], data_offsets: [16, 32] },
    };
    const data = [...bytes([0.5, -0.25], 'f64'), ...bytes([1, 2, 3, 4], 'f32')];
    const padded = file(header, data, true);
    expect(Number(padded.readBigUInt64LE(0)) % 8).toBe(0);
    const { tensors, metadata } = deserializeWithMetadata(padded);
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors['fc.bias'].dtype).toBe('float64');
    expect(Array.from(tensors['fc.bias'].data)).toEqual([0.5, -0.25]);
    expect(tensors['fc.weight'].toArray()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    // The same file without the padding is just as valid.
    const unpadded = deserialize(file(header, data, false));
    expect(Array.from(unpadded['fc.weight'].data)).toEqual([1, 2, 3, 4]);
  });

  it('reads keys in any order with offsets not sorted, and unaligned data', () => {
    const header = {
      b: { dtype: 'F32', shape: [1], data_offsets: [3, 7] },
      a: { dtype: 'U8', shape: [3], data_offsets: [0, 3] },
    };
    const back = deserialize(file(header, [0, 128, 255, ...bytes([-1.5], 'f32')]));
    expect(Object.keys(back)).toEqual(['b', 'a']);
    expect(Array.from(back.b.data)).toEqual([-1.5]);
    expect(Array.from(back.a.data)).toEqual([0, 128, 255]);
  });

  it('converts F16 and BF16 to float32 exactly', () => {
    // 1, -2, 65504 (max), 2^-24 (smallest subnormal), inf, 1/3 rounded to half, NaN
    const half = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x3555, 0x7e00];
    // 1, -3, 3.140625, -inf
    const brain = [0x3f80, 0xc040, 0x4049, 0xff80];
    const header = {
      h: { dtype: 'F16', shape: [7], data_offsets: [0, 14] },
      b: { dtype: 'BF16', shape: [2, 2], data_offsets: [14, 22] },
    };
    const back = deserialize(file(header, [...bytes(half, 'u16'), ...bytes(brain, 'u16')]));
    expect(back.h.dtype).toBe('float32');
    expect(Array.from(back.h.data)).toEqual([
      1,
      -2,
      65504,
      2 ** -24,
      Infinity,
      0.333251953125,
      NaN,
    ]);
    expect(Array.from(back.b.data)).toEqual([1, -3, 3.140625, -Infinity]);
  });

  it('converts I32, I64 and U8 to float32 when exact, and refuses when not', () => {
    const header = {
      i: { dtype: 'I32', shape: [2], data_offsets: [0, 8] },
      l: { dtype: 'I64', shape: [3], data_offsets: [8, 32] },
    };
    const data = [...bytes([-7, 123456], 'i32'), ...bytes([-5n, 2n ** 24n, 2n ** 40n], 'i64')];
    const back = deserialize(file(header, data));
    expect(Array.from(back.i.data)).toEqual([-7, 123456]);
    expect(Array.from(back.l.data)).toEqual([-5, 2 ** 24, 2 ** 40]);

    const inexact = file(
      { l: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } },
      bytes([2n ** 24n + 1n], 'i64'),
    );
    expect(() => deserialize(inexact)).toThrow(
      new RegExp(
        'tensor "l" \\(I64\\): expected integers that float32 holds exactly, ' +
          'received 16777217 at index 0',
      ),
    );
  });

  it('reads an empty header', () => {
    expect(deserialize(file({}))).toEqual({});
  });
});

describe('malformed safetensors files are rejected before allocating', () => {
  const entry = (extra: object) => ({ dtype: 'F32', shape: [2], data_offsets: [0, 8], ...extra });
  const eight = bytes([1, 2], 'f32');
  const cases: [string, Buffer, RegExp][] = [
    [
      'a file shorter than 8 bytes',
      Buffer.alloc(5),
      /expected at least 8 bytes \(the header length\), received 5 bytes/,
    ],
    [
      'a header length beyond the file',
      (() => {
        const b = file({});
        b.writeBigUInt64LE(1000n, 0);
        return b;
      })(),
      /expected a header length within the file's 8 bytes after the length, received 1000/,
    ],
    [
      'a header length over 100 MB',
      (() => {
        const b = file({});
        b.writeBigUInt64LE(2n ** 64n - 1n, 0);
        return b;
      })(),
      new RegExp(
        'not a safetensors file: its first 8 bytes give a header length of ' +
          '18446744073709551615, expected at most 100000000',
      ),
    ],
    [
      'a header that is not JSON',
      file('{"w": {'),
      /expected a JSON header, received text that does not parse/,
    ],
    [
      'a header that is not UTF-8',
      (() => {
        const b = file('{"?":1}');
        b[10] = 0xff; // the "?" becomes a byte that starts no UTF-8 sequence
        return b;
      })(),
      /expected a JSON header, received text that does not parse/,
    ],
    [
      'a header that is a list',
      file('[1, 2]'),
      /safetensors: expected a JSON object as the header, received \[1, 2\]/,
    ],
    ['a header that is null', file('null'), /expected a JSON object as the header, received null/],
    [
      'an entry that is not an object',
      file({ w: 3 }),
      /tensor "w": expected an object \{ dtype, shape, data_offsets \}, received 3/,
    ],
    [
      'an unknown dtype',
      file({ w: entry({ dtype: 'Q4_0' }) }, eight),
      /tensor "w": dtype: expected one of F64, F32, .*BOOL, received "Q4_0"/,
    ],
    [
      'a negative dimension',
      file({ w: entry({ shape: [-2] }) }, eight),
      /tensor "w": shape: expected a list of non-negative integers, received \[-2\]/,
    ],
    [
      'a fractional dimension',
      file({ w: entry({ shape: [1.5] }) }, eight),
      /shape: expected a list of non-negative integers, received \[1.5\]/,
    ],
    [
      'a shape that is not a list',
      file({ w: entry({ shape: '2' }) }, eight),
      /shape: expected a list of non-negative integers, received "2"/,
    ],
    [
      'one offset',
      file({ w: entry({ data_offsets: [0] }) }, eight),
      /data_offsets: expected two non-negative integers \[begin, end\], received \[0\]/,
    ],
    [
      'a fractional offset',
      file({ w: entry({ data_offsets: [0, 7.5] }) }, eight),
      /data_offsets: expected two non-negative integers/,
    ],
    [
      'an end beyond the data',
      file({ w: entry({ data_offsets: [0, 16] }) }, eight),
      /data_offsets: expected 0 <= begin <= end <= 8 \(the data area's size\), received \[0, 16\]/,
    ],
    [
      'begin after end',
      file({ w: entry({ data_offsets: [8, 0] }) }, eight),
      /data_offsets: expected 0 <= begin <= end <= 8/,
    ],
    [
      'a byte count that does not match the shape',
      file({ w: entry({ shape: [3] }) }, eight),
      new RegExp(
        'tensor "w": expected 12 bytes for F32 of shape \\[3\\], ' +
          'received data_offsets spanning 8 bytes',
      ),
    ],
    [
      'a shape asking for terabytes',
      file({ w: entry({ shape: [1e6, 1e6] }) }, eight),
      new RegExp(
        'expected 4000000000000 bytes for F32 of shape \\[1000000, 1000000\\], ' +
          'received data_offsets spanning 8 bytes',
      ),
    ],
    [
      'overlapping tensors',
      file(
        {
          a: entry({ data_offsets: [0, 8] }),
          b: entry({ data_offsets: [4, 12] }),
        },
        [...eight, ...eight],
      ),
      /expected tensors that do not overlap, received "a" at \[0, 8\) and "b" at \[4, 12\)/,
    ],
    [
      'metadata values that are not strings',
      file({ __metadata__: { epoch: 3 } }),
      /__metadata__\["epoch"\]: expected a string, received 3/,
    ],
  ];

  it.each(cases)('rejects %s', (_name, buf, message) => {
    expect(() => deserialize(buf)).toThrow(RangeError);
    expect(() => deserialize(buf)).toThrow(message);
  });

  it('checks the header alone with parseHeader, without reading any data', () => {
    const header = parseHeader(file({ w: entry({}) }, eight));
    expect(header.entries).toEqual([{ name: 'w', dtype: 'F32', shape: [2], begin: 0, end: 8 }]);
    // {"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} is 56 bytes, already a multiple of 8.
    expect(header.dataStart).toBe(8 + 56);
  });
});

describe('saving and loading files', () => {
  it('saves and loads a state dict with metadata, leaving no temporary file', () => {
    const target = path.join(dir, 'model.safetensors');
    const dict = {
      w: tensor([
        [1, 2],
        [3, 4],
      ]),
      b: tensor([0.5, -0.5]),
    };
    save(dict, target, { epochs: '3' });
    expect(listDir()).toEqual(['model.safetensors']);
    const { tensors, metadata } = loadWithMetadata(target);
    expect(metadata).toEqual({ epochs: '3' });
    expect(tensors.w.toArray()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(Array.from(load(target).b.data)).toEqual([0.5, -0.5]);
    fs.rmSync(target);
  });

  it('leaves the old file untouched when the new dict cannot be serialised', () => {
    const target = path.join(dir, 'keep.safetensors');
    save({ w: tensor([1, 2, 3]) }, target);
    const before = fs.readFileSync(target);
    expect(() => save({ w: 'oops' as unknown as Tensor }, target)).toThrow(TypeError);
    expect(fs.readFileSync(target).equals(before)).toBe(true);
    expect(listDir()).toEqual(['keep.safetensors']);
    fs.rmSync(target);
  });

  it('removes its temporary file when the final rename fails, leaving the target as it was', () => {
    // A directory in the way: the temp file is written and flushed, then rename() fails.
    const target = path.join(dir, 'occupied');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'inside.txt'), 'still here');
    expect(() => save({ w: tensor([1]) }, target)).toThrow(/EISDIR|EEXIST|ENOTEMPTY|EPERM/);
    expect(listDir()).toEqual(['occupied']);
    expect(fs.readFileSync(path.join(target, 'inside.txt'), 'utf8')).toBe('still here');
    fs.rmSync(target, { recursive: true });
  });

  it('fails without creating anything when the directory does not exist', () => {
    const target = path.join(dir, 'missing', 'model.safetensors');
    expect(() => save({ w: tensor([1]) }, target)).toThrow(/ENOENT/);
    expect(listDir()).toEqual([]);
  });

  it('saveAsync and loadAsync round-trip and clean up the same way', async () => {
    const target = path.join(dir, 'async.safetensors');
    await saveAsync({ w: tensor([1.25, -8]) }, target);
    expect(Array.from((await loadAsync(target)).w.data)).toEqual([1.25, -8]);
    fs.mkdirSync(path.join(dir, 'blocked'));
    await expect(saveAsync({ w: tensor([1]) }, path.join(dir, 'blocked'))).rejects.toThrow();
    expect(listDir()).toEqual(['async.safetensors', 'blocked']);
    fs.rmSync(target);
    fs.rmSync(path.join(dir, 'blocked'), { recursive: true });
  });
});

describe('save() errors', () => {
  it('names the file asked for, keeps the system code, and leaves no temporary file', () => {
    const notADirectory = path.join(dir, 'plain-file');
    fs.writeFileSync(notADirectory, 'x');
    const target = path.join(notADirectory, 'w.safetensors');
    expect(() => save({ w: tensor([1]) }, target)).toThrow(
      expect.objectContaining({
        code: 'ENOTDIR',
        message: expect.stringMatching(new RegExp(`^save\\(${JSON.stringify(target)}\\): ENOTDIR`)),
      }),
    );
    fs.rmSync(notADirectory);
  });

  it('rejects a path that is not a string', async () => {
    expect(() => save({ w: tensor([1]) }, 42 as unknown as string)).toThrow(
      new TypeError('save(file): expected a path string, received 42'),
    );
    expect(() => load(undefined as unknown as string)).toThrow(
      new TypeError('load(file): expected a path string, received undefined'),
    );
    await expect(saveAsync({ w: tensor([1]) }, {} as unknown as string)).rejects.toThrow(
      new TypeError('saveAsync(file): expected a path string, received Object'),
    );
  });
});

describe('load() checks a file before reading its data', () => {
  // A sparse file of 1 TiB takes no disk space, and no process could read it whole: the
  // right error (not "file too large" or an allocation failure) shows only the header was read.
  const TIB = 2 ** 40;

  function sparseFile(name: string, start: Uint8Array): string {
    const target = path.join(dir, name);
    fs.writeFileSync(target, start);
    fs.truncateSync(target, TIB);
    return target;
  }

  it('rejects a header length past the cap without reading the data', async () => {
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(2n ** 62n, 0);
    const huge = sparseFile('huge-length.safetensors', prefix);
    const expected = `${huge} is not a safetensors file: its first 8 bytes give a header length of ${2n ** 62n}, expected at most 100000000`;
    expect(() => load(huge)).toThrow(expected);
    await expect(loadAsync(huge)).rejects.toThrow(expected);
    fs.rmSync(huge);
  });

  it('rejects tensors that claim more bytes than the file has without reading the data', () => {
    const claim = { w: { dtype: 'F32', shape: [2 ** 39], data_offsets: [0, 2 ** 41] } };
    const huge = sparseFile('huge-claim.safetensors', file(claim));
    expect(() => load(huge)).toThrow(/tensor "w"/);
    fs.rmSync(huge);
  });

  it('refuses a FIFO without waiting for a writer to open it', () => {
    const fifo = path.join(dir, 'fifo.safetensors');
    execFileSync('mkfifo', [fifo]);
    // In a child process, so that a regression shows as a timeout instead of hanging the run.
    const lib = JSON.stringify(path.join(__dirname, '..', 'dist', 'io'));
    const script =
      `const io = require(${lib}); for (const load of [io.load, io.loadAsync]) {` +
      `Promise.resolve().then(() => load(${JSON.stringify(fifo)}))` +
      `.catch((e) => console.log(e.message)); }`;
    const child = spawnSync(process.execPath, ['-e', script], { timeout: 10_000 });
    expect(child.signal).toBeNull();
    expect(child.stdout.toString().trim().split('\n')).toEqual([
      `load(${JSON.stringify(fifo)}): expected a regular file, received another kind`,
      `loadAsync(${JSON.stringify(fifo)}): expected a regular file, received another kind`,
    ]);
    fs.rmSync(fifo);
  });

  it('refuses what is not a regular file instead of reading it forever', async () => {
    expect(() => load('/dev/zero')).toThrow(
      'load("/dev/zero"): expected a regular file, received another kind',
    );
    await expect(loadAsync('/dev/zero')).rejects.toThrow('expected a regular file');
  });
});
