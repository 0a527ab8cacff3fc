/**
 * Seeded random numbers: xoshiro128** seeded through splitmix32. The global generator feeds
 * every random initialisation, shuffle and sample, so manualSeed(n) makes a whole training
 * run repeatable; a Generator of one's own (as torch.Generator) gives a stream that nothing
 * else draws from, such as a DataLoader's shuffling.
 */

import { checkFinite, rangeError, typeError } from '../errors';

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * An independent seeded random stream.
 *
 * @example
 * const g = new Generator(7);
 * g.int(10); // the same integer in [0, 10) on every run
 */
export class Generator {
  private readonly state = new Uint32Array(4);

  constructor(seed = 0) {
    this.reseed('Generator(seed)', seed);
  }

  /** Restarts the stream from a seed. */
  manualSeed(seed: number): void {
    this.reseed('manualSeed(seed)', seed);
  }

  private reseed(where: string, seed: number): void {
    checkFinite(where, seed);
    // Fold the high bits in so seeds beyond 2^32 still differ.
    let s = ((seed >>> 0) ^ Math.floor(seed / 2 ** 32)) >>> 0;
    for (let i = 0; i < 4; i++) {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.state[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** The next raw 32-bit output. */
  nextUint32(): number {
    const s = this.state;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform float in [0, 1) with 32 random bits. */
  float(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /**
   * A standard normal sample (Box–Muller). The pair's second value is dropped rather than
   * cached, so the four words of getState() are the whole state and a restored generator
   * continues exactly.
   */
  normal(): number {
    // 1 - u keeps the argument of log away from 0.
    const u = 1 - this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const swap = order[i];
      order[i] = order[j];
      order[j] = swap;
    }
    return order;
  }

  /** The stream's state, so a checkpoint can restore it. */
  getState(): Uint32Array {
    return Uint32Array.from(this.state);
  }

  /** Restores a state returned by getState(). */
  setState(saved: Uint32Array): void {
    const expected = 'a Uint32Array of length 4';
    if (!(saved instanceof Uint32Array)) throw typeError('setState(state)', expected, saved);
    if (saved.length !== 4) throw rangeError('setState(state)', expected, saved);
    this.state.set(saved);
  }
}

/** The generator behind manualSeed() and every random tensor. */
export const defaultGenerator = new Generator(0);

/**
 * Seeds the global generator.
 *
 * @example
 * manualSeed(42);
 * const w = randn([3, 3]); // the same numbers on every run
 */
export function manualSeed(seed: number): void {
  defaultGenerator.manualSeed(seed);
}

/** A uniform float in [0, 1) from the global generator. */
export function randomFloat(): number {
  return defaultGenerator.float();
}

/** A uniform integer in [0, n) from the global generator. */
export function randomInt(n: number): number {
  return defaultGenerator.int(n);
}

/** A standard normal sample from the global generator. */
export function randomNormal(): number {
  return defaultGenerator.normal();
}

/** The global generator's state, for checkpoints. */
export function getRngState(): Uint32Array {
  return defaultGenerator.getState();
}

/** Restores the global generator's state. */
export function setRngState(saved: Uint32Array): void {
  defaultGenerator.setState(saved);
}
