/**
 * The safetensors reader survives anything: valid files cut short, with bytes flipped, with
 * header lengths and header fields replaced by hostile values (offsets past the end or
 * overlapping, shapes of terabytes, dtypes that do not exist, text that is not JSON). Each
 * result is either tensors consistent with their shapes or a RangeError / TypeError that says
 * "safetensors". NODEGRAD_FUZZ_SAFETENSORS sets the number of cases (default 20,000).
 */

import { describe, expect, it } from 'vitest';
import { deserialize, serialize } from '../lib/io';
import { Generator, randn, tensor, Tensor } from '../lib/tensor';

const cases = Number(process.env.NODEGRAD_FUZZ_SAFETENSORS ?? 20_000);

const HOSTILE = [
  -1,
  0,
  1,
  7,
  0.5,
  2 ** 31,
  2 ** 40,
  2 ** 53,
  2 ** 64,
  1e300,
  NaN,
  null,
  'F32',
  'F64',
  'X',
  true,
  [],
  [0],
  [2 ** 40, 2 ** 40],
  [0, 2 ** 53],
  [8, 0],
  [0, 8, 16],
  {},
];

function valid(): Buffer {
  return serialize(
    {
      w: randn([3, 4]),
      b: tensor([1, 2, 3], { dtype: 'float64' }),
      e: new Tensor(new Float32Array(0), [0, 2]),
    },
    { format: 'pt' },
  );
}

function withHeader(header: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(header) ?? 'undefined');
  const data = Buffer.alloc(64);
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(BigInt(json.length));
  json.copy(out, 8);
  return out;
}

/** A valid header with one field of one entry (or the header itself) replaced. */
function hostileHeader(r: Generator, bytes: Buffer): Buffer {
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString()) as Record<string, unknown>;
  const names = Object.keys(header);
  const name = names[r.int(names.length)];
  const value = HOSTILE[r.int(HOSTILE.length)];
  const entry = header[name] as Record<string, unknown>;
  const field = ['dtype', 'shape', 'data_offsets', 'extra', ''][r.int(5)];
  if (field === '') header[name] = value;
  else entry[field] = value;
  if (r.int(4) === 0) header.x = { dtype: 'F32', shape: [2], data_offsets: [r.int(40), 64] };
  return withHeader(r.int(20) === 0 ? value : header);
}

function mutate(r: Generator, bytes: Buffer): Buffer {
  switch (r.int(5)) {
    case 0:
      return bytes.subarray(0, r.int(bytes.length));
    case 1: {
      const out = Buffer.from(bytes);
      for (let n = 1 + r.int(4); n > 0; n--) out[r.int(out.length)] = r.int(256);
      return out;
    }
    case 2: {
      const out = Buffer.from(bytes);
      const lengths = [0n, 1n, 2n ** 63n, 2n ** 64n - 3n, 10n ** 12n, BigInt(out.length)];
      out.writeBigUInt64LE(lengths[r.int(lengths.length)] + BigInt(r.int(3)));
      return out;
    }
    case 3:
      return Buffer.concat([bytes, Buffer.alloc(r.int(16), r.int(256))]);
    default:
      return hostileHeader(r, bytes);
  }
}

describe('safetensors fuzz', () => {
  it(`reads or cleanly rejects ${cases} malformed files`, () => {
    const r = new Generator(1);
    const base = valid();
    let accepted = 0;
    let rejected = 0;
    for (let i = 0; i < cases; i++) {
      const bytes = mutate(r, base);
      let tensors: Record<string, Tensor>;
      try {
        tensors = deserialize(bytes);
      } catch (error) {
        const ok =
          (error instanceof RangeError || error instanceof TypeError) &&
          /^safetensors/.test(error.message);
        if (!ok) expect.fail(`case ${i}: ${String(error)}`);
        rejected++;
        continue;
      }
      for (const t of Object.values(tensors)) {
        expect(t.data.length).toBe(t.shape.reduce((n, d) => n * d, 1));
      }
      accepted++;
    }
    console.log(`safetensors fuzz: ${cases} files, ${rejected} rejected, ${accepted} read`);
    // Both outcomes occur, so the cases are neither all trivially broken nor all harmless.
    expect(rejected).toBeGreaterThan(cases / 2);
    expect(accepted).toBeGreaterThan(cases / 100);
  }, 60_000);
});
