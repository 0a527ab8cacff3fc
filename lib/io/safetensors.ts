/**
 * The safetensors format (https://github.com/huggingface/safetensors), read and written
 * without dependencies:
 *
 *   [8 bytes]  N, the header length, unsigned 64-bit little-endian
 *   [N bytes]  a JSON object { name: { dtype, shape, data_offsets: [begin, end] }, ...,
 *              "__metadata__"?: { string: string } }, padded with spaces
 *   [rest]     the data area; each tensor's little-endian bytes at [begin, end) within it
 *
 * Every field is checked before anything the header asks for is allocated, so a malformed
 * or hostile file gives a RangeError and never a crash or a huge allocation.
 */
import { endianness } from 'node:os';
import type { FloatArray } from '../backend/backend';
import { rangeError, shapeString, typeError } from '../errors';
import { Tensor } from '../tensor';

/** The largest header accepted, as the reference implementation (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

/** Bytes per element of each dtype this reader understands. */
const DTYPE_SIZES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
} as const;

/** A dtype name as it appears in a safetensors header. */
export type SafetensorsDType = keyof typeof DTYPE_SIZES;

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** Strict UTF-8, as the reference implementation: invalid bytes are an error, not U+FFFD. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** One tensor's entry in a parsed header, checked against the file. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Offsets within the data area, end exclusive. */
  begin: number;
  end: number;
}

/** A parsed and fully validated header. */
export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Where the data area starts in the file: 8 + header length. */
  dataStart: number;
}

function malformed(expected: string, received: unknown): RangeError {
  return rangeError('safetensors', expected, received);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Checks string metadata; `at` names the whole (path "") or one entry (`["format"]`) in
 * messages. `error` is typeError for an argument, rangeError for a file's header.
 */
function checkMetadata(
  at: (path: string) => string,
  metadata: unknown,
  error: typeof rangeError,
): Record<string, string> {
  if (!isPlainObject(metadata)) throw error(at(''), 'an object of strings', metadata);
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') {
      throw error(at(`[${JSON.stringify(key)}]`), 'a string', value);
    }
  }
  return { ...metadata } as Record<string, string>;
}

/**
 * The error for a first 8 bytes that give a header length past the cap: nearly always a file
 * of another kind (any text gives over 2e18), so the message says that first.
 */
export function notSafetensors(headerLength: bigint, file?: string): RangeError {
  const what =
    file === undefined
      ? 'safetensors: not a safetensors file'
      : `${file} is not a safetensors file`;
  return new RangeError(
    `${what}: its first 8 bytes give a header length of ${headerLength}, ` +
      `expected at most ${MAX_HEADER_BYTES}`,
  );
}

/**
 * Reads and validates the header of a safetensors buffer: lengths, JSON, every entry's dtype,
 * shape and offsets, byte counts and overlaps. Allocates nothing the header asks for.
 *
 * `bytes` needs to hold only the 8-byte length and the header when `fileLength` gives the
 * size of the whole file, so a file can be checked before its data is read.
 */
export function parseHeader(bytes: Uint8Array, fileLength = bytes.length): SafetensorsHeader {
  if (!(bytes instanceof Uint8Array)) {
    throw typeError('safetensors(bytes)', 'a Buffer or Uint8Array', bytes);
  }

  // 1. The header length, checked against the file and the cap before it is read.
  if (fileLength < 8 || bytes.length < 8) {
    throw new RangeError(
      `safetensors: expected at least 8 bytes (the header length), received ${fileLength} bytes`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) throw notSafetensors(headerLength);
  if (headerLength > BigInt(fileLength - 8)) {
    throw new RangeError(
      `safetensors: expected a header length within the file's ${fileLength - 8} bytes ` +
        `after the length, received ${headerLength}`,
    );
  }
  const dataStart = 8 + Number(headerLength);
  const dataLength = fileLength - dataStart;

  // 2. The JSON object.
  let header: unknown;
  try {
    header = JSON.parse(utf8.decode(bytes.subarray(8, dataStart)));
  } catch (error) {
    throw new RangeError(
      `safetensors: expected a JSON header, received text that does not parse ` +
        `(${(error as Error).message})`,
    );
  }
  if (!isPlainObject(header)) throw malformed('a JSON object as the header', header);

  // 3. Each entry, in header order.
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      metadata = checkMetadata((path) => `safetensors: ${METADATA_KEY}${path}`, raw, rangeError);
      continue;
    }
    entries.push(checkEntry(name, raw, dataLength));
  }

  // 4. No two tensors share a byte (empty tensors occupy none).
  const placed = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < placed.length; i++) {
    const previous = placed[i - 1];
    const current = placed[i];
    if (current.begin < previous.end) {
      throw new RangeError(
        `safetensors: expected tensors that do not overlap, received ` +
          `${JSON.stringify(previous.name)} at [${previous.begin}, ${previous.end}) and ` +
          `${JSON.stringify(current.name)} at [${current.begin}, ${current.end})`,
      );
    }
  }
  return { entries, metadata, dataStart };
}

function checkEntry(name: string, raw: unknown, dataLength: number): SafetensorsEntry {
  const where = `safetensors: tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(raw)) {
    throw rangeError(where, 'an object { dtype, shape, data_offsets }', raw);
  }
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZES, dtype)) {
    throw rangeError(`${where}: dtype`, `one of ${Object.keys(DTYPE_SIZES).join(', ')}`, dtype);
  }
  if (!Array.isArray(shape) || !shape.every(isSize)) {
    throw rangeError(`${where}: shape`, 'a list of non-negative integers', shape);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSize)) {
    throw rangeError(`${where}: data_offsets`, 'two non-negative integers [begin, end]', offsets);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataLength) {
    throw rangeError(
      `${where}: data_offsets`,
      `0 <= begin <= end <= ${dataLength} (the data area's size)`,
      offsets,
    );
  }
  const size = DTYPE_SIZES[dtype as SafetensorsDType];
  const numel = (shape as number[]).reduce((n, d) => n * d, 1);
  if (numel * size !== end - begin) {
    throw new RangeError(
      `${where}: expected ${numel * size} bytes for ${dtype} of shape ` +
        `${shapeString(shape as number[])}, received data_offsets spanning ${end - begin} bytes`,
    );
  }
  return { name, dtype: dtype as SafetensorsDType, shape: shape as number[], begin, end };
}

// ---------------------------------------------------------------------------------------------
// Reading

let halfTable: Float32Array | null = null;

/** float16 bit patterns to float32 values, built on first use (256 KB). */
function halfToFloatTable(): Float32Array {
  if (halfTable !== null) return halfTable;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) table[h] = sign * fraction * 2 ** -24;
    else if (exponent === 31) table[h] = fraction === 0 ? sign * Infinity : NaN;
    else table[h] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  halfTable = table;
  return table;
}

/** Copies [begin, end) into a fresh, aligned buffer in host byte order. */
function alignedCopy(bytes: Uint8Array, begin: number, end: number, size: number): ArrayBuffer {
  const copy = new Uint8Array(end - begin);
  copy.set(bytes.subarray(begin, end));
  if (!LITTLE_ENDIAN_HOST && size > 1) {
    for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  }
  return copy.buffer;
}

function integersToFloat32(where: string, source: ArrayLike<number>): Float32Array {
  const out = new Float32Array(source.length);
  for (let i = 0; i < source.length; i++) {
    const value = source[i];
    out[i] = value;
    if (out[i] !== value) {
      throw new RangeError(
        `${where}: expected integers that float32 holds exactly, received ${value} at index ${i}`,
      );
    }
  }
  return out;
}

function int64ToFloat32(where: string, buffer: ArrayBuffer, signed: boolean): Float32Array {
  const source = signed ? new BigInt64Array(buffer) : new BigUint64Array(buffer);
  const out = new Float32Array(source.length);
  for (let i = 0; i < source.length; i++) {
    const value = source[i];
    out[i] = Number(value);
    if (BigInt(out[i]) !== value) {
      throw new RangeError(
        `${where}: expected integers that float32 holds exactly, received ${value} at index ${i}`,
      );
    }
  }
  return out;
}

function decode(where: string, entry: SafetensorsEntry, bytes: Uint8Array): FloatArray {
  const size = DTYPE_SIZES[entry.dtype];
  const buffer = alignedCopy(bytes, entry.begin, entry.end, size);
  switch (entry.dtype) {
    case 'F64':
      return new Float64Array(buffer);
    case 'F32':
      return new Float32Array(buffer);
    case 'F16': {
      const table = halfToFloatTable();
      const half = new Uint16Array(buffer);
      const out = new Float32Array(half.length);
      for (let i = 0; i < half.length; i++) out[i] = table[half[i]];
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32: shifting the bits up is exact, NaNs included.
      const half = new Uint16Array(buffer);
      const out = new Float32Array(half.length);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < half.length; i++) bits[i] = half[i] << 16;
      return out;
    }
    case 'I64':
      return int64ToFloat32(where, buffer, true);
    case 'U64':
      return int64ToFloat32(where, buffer, false);
    case 'I32':
      return integersToFloat32(where, new Int32Array(buffer));
    case 'U32':
      return integersToFloat32(where, new Uint32Array(buffer));
    case 'I16':
      return Float32Array.from(new Int16Array(buffer));
    case 'U16':
      return Float32Array.from(new Uint16Array(buffer));
    case 'I8':
      return Float32Array.from(new Int8Array(buffer));
    case 'U8':
      return Float32Array.from(new Uint8Array(buffer));
    case 'BOOL':
      return Float32Array.from(new Uint8Array(buffer), (b) => (b === 0 ? 0 : 1));
  }
}

function setEntry<T>(target: Record<string, T>, key: string, value: T): void {
  // defineProperty, so a tensor named "__proto__" is a key and not a prototype change.
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/**
 * Reads the tensors and the `__metadata__` of a safetensors buffer. F64 becomes a float64
 * tensor; F32, F16, BF16 and the integer dtypes become float32 (integers only when float32
 * holds every value exactly, else RangeError).
 *
 * @example
 * const { tensors, metadata } = deserializeWithMetadata(fs.readFileSync('model.safetensors'));
 */
export function deserializeWithMetadata(bytes: Uint8Array): {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
} {
  const header = parseHeader(bytes);
  const data = bytes.subarray(header.dataStart);
  const tensors: Record<string, Tensor> = {};
  for (const entry of header.entries) {
    const where = `safetensors: tensor ${JSON.stringify(entry.name)} (${entry.dtype})`;
    setEntry(tensors, entry.name, new Tensor(decode(where, entry, data), entry.shape));
  }
  return { tensors, metadata: header.metadata };
}

/**
 * Reads the tensors of a safetensors buffer (see {@link deserializeWithMetadata}).
 *
 * @example
 * const weights = deserialize(buffer);
 * weights['0.weight'].shape; // [256, 784]
 */
export function deserialize(bytes: Uint8Array): Record<string, Tensor> {
  return deserializeWithMetadata(bytes).tensors;
}

// ---------------------------------------------------------------------------------------------
// Writing

function checkStateDict(dict: unknown): [string, Tensor][] {
  if (!isPlainObject(dict)) throw typeError('serialize(dict)', 'an object of named tensors', dict);
  const items = Object.entries(dict);
  for (const [name, value] of items) {
    if (!(value instanceof Tensor)) {
      throw typeError(`serialize(dict[${JSON.stringify(name)}])`, 'a Tensor', value);
    }
    if (name === METADATA_KEY || name.length === 0) {
      throw rangeError('serialize(dict)', `tensor names other than "" and "${METADATA_KEY}"`, name);
    }
  }
  return items as [string, Tensor][];
}

/**
 * Encodes named tensors as safetensors: float32 tensors as F32, float64 as F64, in the
 * dict's key order, with optional string metadata. The header is padded with spaces to a
 * multiple of 8 bytes, as the reference implementation writes it.
 *
 * @example
 * const bytes = serialize(model.stateDict(), { format: 'pt' });
 */
export function serialize(dict: Record<string, Tensor>, metadata?: Record<string, string>): Buffer {
  const items = checkStateDict(dict);

  // 1. The header: metadata first, then each tensor with its place in the data area.
  const fields: string[] = [];
  if (metadata !== undefined) {
    const checked = checkMetadata((path) => `serialize(metadata${path})`, metadata, typeError);
    fields.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(checked)}`);
  }
  let offset = 0;
  for (const [name, t] of items) {
    const end = offset + t.data.byteLength;
    const info = { dtype: t.dtype === 'float64' ? 'F64' : 'F32', shape: t.shape };
    fields.push(
      `${JSON.stringify(name)}:${JSON.stringify({ ...info, data_offsets: [offset, end] })}`,
    );
    offset = end;
  }
  const json = Buffer.from(`{${fields.join(',')}}`, 'utf8');
  const headerLength = Math.ceil(json.length / 8) * 8;

  // 2. Length, padded header, data.
  const out = Buffer.alloc(8 + headerLength + offset);
  out.writeBigUInt64LE(BigInt(headerLength), 0);
  json.copy(out, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const [, t] of items) {
    const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(raw, at);
    if (!LITTLE_ENDIAN_HOST) {
      const size = t.data.BYTES_PER_ELEMENT;
      for (let i = at; i < at + raw.length; i += size) out.subarray(i, i + size).reverse();
    }
    at += raw.length;
  }
  return out;
}
