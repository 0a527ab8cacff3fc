import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { debug } from '../debug';
import type { Tensor } from '../tensor';
import { rangeError, typeError, verbatim } from '../errors';
import {
  deserialize,
  deserializeWithMetadata,
  MAX_HEADER_BYTES,
  notSafetensors,
  parseHeader,
  serialize,
} from './safetensors';

/** A fresh name beside the target, so the final rename stays within one file system. */
function tempPathFor(target: string): string {
  const dir = path.dirname(path.resolve(target));
  const suffix = `${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  return path.join(dir, `.${path.basename(target)}.${suffix}`);
}

/** Throws unless file is a non-empty path string. */
function checkPath(where: string, file: unknown): string {
  if (typeof file !== 'string' || file === '') throw typeError(where, 'a path string', file);
  return file;
}

/** Runs a clean-up whose own failure must not hide the error being reported. */
function removeQuietly(remove: () => void): void {
  try {
    remove();
  } catch (error) {
    debug('could not remove a temporary file: %s', (error as Error).message);
  }
}

/**
 * The error of a failed save, naming the file asked for rather than the hidden temporary
 * file the system call was about; the system error stays as the cause, with its code.
 */
function saveError(caller: string, file: string, error: unknown): Error {
  if (!(error instanceof Error) || !('code' in error)) return error as Error;
  const wrapped = new Error(`${caller}(${JSON.stringify(file)}): ${error.message}`, {
    cause: error,
  });
  return Object.assign(wrapped, { code: error.code });
}

/** Makes the rename itself durable; some platforms cannot open a directory, which is fine. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (error) {
    debug('directory fsync skipped for %s: %s', dir, (error as Error).message);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Saves named tensors to a .safetensors file, atomically: the bytes go to a temporary file in
 * the same directory, which is flushed to disk and then renamed over the target. If anything
 * fails, the temporary file is removed and an existing file at `file` is left as it was.
 *
 * @example
 * save(model.stateDict(), 'mnist-mlp.safetensors');
 */
export function save(
  dict: Record<string, Tensor>,
  file: string,
  metadata?: Record<string, string>,
): void {
  const bytes = serialize(dict, metadata);
  const temp = tempPathFor(checkPath('save(file)', file));
  let fd: number | undefined;
  try {
    fd = fs.openSync(temp, 'wx', 0o666);
    let written = 0;
    while (written < bytes.length) {
      written += fs.writeSync(fd, bytes, written, bytes.length - written);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temp, file);
  } catch (error) {
    if (fd !== undefined) fs.closeSync(fd);
    removeQuietly(() => fs.rmSync(temp, { force: true }));
    throw saveError('save', file, error);
  }
  syncDirectory(path.dirname(path.resolve(file)));
}

/**
 * Loads the tensors of a .safetensors file, written here or by any other tool (PyTorch,
 * the Python safetensors package). See {@link deserialize} for the dtypes understood.
 *
 * @example
 * model.loadStateDict(load('mnist-mlp.safetensors'));
 */
export function load(file: string): Record<string, Tensor> {
  return deserialize(readChecked(file));
}

/** Loads the tensors and the `__metadata__` strings of a .safetensors file. */
export function loadWithMetadata(file: string): {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
} {
  return deserializeWithMetadata(readChecked(file));
}

/**
 * Reads a safetensors file whose header has been checked first: a file that is not regular
 * (a pipe, /dev/zero), a header length past the file, or a header whose tensors do not fit
 * the file is rejected after reading at most the header, never the whole file.
 */
function readChecked(file: string): Buffer {
  const fd = fs.openSync(checkPath('load(file)', file), READ_FLAGS);
  try {
    return readAt(fd, checkHeader('load', file, fd), 0);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Opening for reading never waits: a FIFO would otherwise block open() until a writer came,
 * before fstat could tell it is not a file. Reads of a regular file are not affected.
 */
const READ_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

/** Validates the header of an open file and returns the file's size. */
function checkHeader(caller: string, file: string, fd: number): number {
  const stat = fs.fstatSync(fd);
  if (!stat.isFile()) {
    throw rangeError(
      `${caller}(${JSON.stringify(file)})`,
      'a regular file',
      verbatim('another kind'),
    );
  }
  const prefix = readAt(fd, Math.min(8, stat.size), 0);
  const headerLength = prefix.length < 8 ? 0n : prefix.readBigUInt64LE(0);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) throw notSafetensors(headerLength, file);
  const headerEnd = 8 + Number(headerLength);
  if (headerEnd > Math.min(stat.size, 8 + MAX_HEADER_BYTES)) {
    parseHeader(prefix, stat.size); // throws the error that names the bad length
  }
  parseHeader(readAt(fd, headerEnd, 0), stat.size);
  return stat.size;
}

/** Exactly `length` bytes from `position`, or an error if the file is shorter. */
function readAt(fd: number, length: number, position: number): Buffer {
  const out = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, length - done, position + done);
    if (n === 0) throw rangeError('load', `${length} bytes`, verbatim(`a file of ${done} bytes`));
    done += n;
  }
  return out;
}

/** {@link save} without blocking the event loop during the write. */
export async function saveAsync(
  dict: Record<string, Tensor>,
  file: string,
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = serialize(dict, metadata);
  const temp = tempPathFor(checkPath('saveAsync(file)', file));
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(temp, 'wx', 0o666);
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(temp, file);
  } catch (error) {
    if (handle !== undefined) await handle.close();
    removeQuietly(() => fs.rmSync(temp, { force: true }));
    throw saveError('saveAsync', file, error);
  }
  syncDirectory(path.dirname(path.resolve(file)));
}

/** {@link load} without blocking the event loop during the read. */
export async function loadAsync(file: string): Promise<Record<string, Tensor>> {
  const handle = await fsp.open(checkPath('loadAsync(file)', file), READ_FLAGS);
  try {
    // The header check reads a few bytes synchronously; the data is read asynchronously.
    const size = checkHeader('loadAsync', file, handle.fd);
    const bytes = Buffer.alloc(size);
    // A read may return fewer bytes than asked for; go on until the file is in.
    let done = 0;
    while (done < size) {
      const { bytesRead } = await handle.read(bytes, done, size - done, done);
      if (bytesRead === 0) {
        throw rangeError('loadAsync', `${size} bytes`, verbatim(`a file of ${done} bytes`));
      }
      done += bytesRead;
    }
    return deserialize(bytes);
  } finally {
    await handle.close();
  }
}
