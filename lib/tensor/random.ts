/**
 * The library's one seeded random generator: xoshiro128** seeded through splitmix32. Every
 * random initialisation, shuffle and sample draws from it, so manualSeed(n) makes a whole
 * training run repeatable.
 */

const state = new Uint32Array(4);
let spareNormal: number | null = null;

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * Seeds the global generator.
 *
 * @example
 * manualSeed(42);
 * const w = randn([3, 3]); // the same numbers on every run
 */
export function manualSeed(seed: number): void {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) {
    throw new TypeError(`manualSeed(seed): expected a finite number, received ${String(seed)}`);
  }
  // Fold the high bits in so seeds beyond 2^32 still differ.
  const next = splitmix32((seed >>> 0) ^ Math.floor(seed / 2 ** 32));
  for (let i = 0; i < 4; i++) state[i] = next();
  spareNormal = null;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The next raw 32-bit output of xoshiro128**. */
export function nextUint32(): number {
  const result = Math.imul(rotl(Math.imul(state[1], 5) >>> 0, 7), 9) >>> 0;
  const t = (state[1] << 9) >>> 0;
  state[2] ^= state[0];
  state[3] ^= state[1];
  state[1] ^= state[2];
  state[0] ^= state[3];
  state[2] ^= t;
  state[3] = rotl(state[3], 11);
  return result;
}

/** A uniform float in [0, 1) with 32 random bits. */
export function randomFloat(): number {
  return nextUint32() / 4294967296;
}

/** A uniform integer in [0, n). */
export function randomInt(n: number): number {
  return Math.floor(randomFloat() * n);
}

/** A standard normal sample (Box–Muller; the second value of each pair is kept for later). */
export function randomNormal(): number {
  if (spareNormal !== null) {
    const value = spareNormal;
    spareNormal = null;
    return value;
  }
  // 1 - u keeps the argument of log away from 0.
  const u = 1 - randomFloat();
  const v = randomFloat();
  const radius = Math.sqrt(-2 * Math.log(u));
  spareNormal = radius * Math.sin(2 * Math.PI * v);
  return radius * Math.cos(2 * Math.PI * v);
}

/** Returns the generator state, so a checkpoint can restore it. */
export function getRngState(): Uint32Array {
  return Uint32Array.from(state);
}

/** Restores a state returned by getRngState(). */
export function setRngState(saved: Uint32Array): void {
  if (!(saved instanceof Uint32Array) || saved.length !== 4) {
    throw new TypeError('setRngState(state): expected a Uint32Array of length 4');
  }
  state.set(saved);
  spareNormal = null;
}

manualSeed(0);
