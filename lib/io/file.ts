import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { debug } from '../debug';
import type { Tensor } from '../tensor';
import { deserialize, deserializeWithMetadata, serialize } from './safetensors';

/** A fresh name beside the target, so the final rename stays within one file system. */
function tempPathFor(target: string): string {
  const dir = path.dirname(path.resolve(target));
  const suffix = `${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  return path.join(dir, `.${path.basename(target)}.${suffix}`);
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
  const temp = tempPathFor(file);
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
    fs.rmSync(temp, { force: true });
    throw error;
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
  return deserialize(fs.readFileSync(file));
}

/** Loads the tensors and the `__metadata__` strings of a .safetensors file. */
export function loadWithMetadata(file: string): {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
} {
  return deserializeWithMetadata(fs.readFileSync(file));
}

/** {@link save} without blocking the event loop during the write. */
export async function saveAsync(
  dict: Record<string, Tensor>,
  file: string,
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = serialize(dict, metadata);
  const temp = tempPathFor(file);
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
    await fsp.rm(temp, { force: true });
    throw error;
  }
  syncDirectory(path.dirname(path.resolve(file)));
}

/** {@link load} without blocking the event loop during the read. */
export async function loadAsync(file: string): Promise<Record<string, Tensor>> {
  return deserialize(await fsp.readFile(file));
}
