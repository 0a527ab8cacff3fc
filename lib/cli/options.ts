/** Option parsers and helpers shared by the commands of the `nodegrad` CLI. */
import { InvalidArgumentError, Option } from 'commander';

import { backendInfo, setBackend } from '../backend';
import type { BackendName } from '../backend';

/** The --backend option every command takes. */
export function backendOption(): Option {
  return new Option('--backend <name>', 'compute backend (default: native, if it loads)').choices([
    'native',
    'reference',
  ]);
}

/** Switches to the backend --backend named, if it named one. */
export function useBackend(name: BackendName | undefined): void {
  if (name !== undefined) setBackend(name);
}

/** "native backend (avx512)", for the first line of a training run. */
export function describeBackend(): string {
  const info = backendInfo();
  return info.simd === undefined ? `${info.name} backend` : `${info.name} backend (${info.simd})`;
}

/** An integer with thousands separators. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** A parser of integer option values in [min, max]. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^[+-]?\d+$/.test(value.trim()) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`expected an integer ${range}.`);
    }
    return n;
  };
}

/** A parser of positive number option values. */
export function positive(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError('expected a positive number.');
  }
  return n;
}
