/**
 * A generator private to one data loader (or to the fixed MNIST order), so a loader given a
 * seed shuffles the same way whatever else draws from the global generator. Same algorithm
 * as the global one: xoshiro128** seeded through splitmix32.
 */
export class SeededRandom {
  private readonly state = new Uint32Array(4);

  constructor(seed: number) {
    let s = ((seed >>> 0) ^ Math.floor(seed / 2 ** 32)) >>> 0;
    for (let i = 0; i < 4; i++) {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.state[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** A uniform integer in [0, n). */
  randomInt(n: number): number {
    const st = this.state;
    const x = Math.imul(st[1], 5) >>> 0;
    const result = Math.imul(((x << 7) | (x >>> 25)) >>> 0, 9) >>> 0;
    const t = (st[1] << 9) >>> 0;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = ((st[3] << 11) | (st[3] >>> 21)) >>> 0;
    return Math.floor((result / 4294967296) * n);
  }
}

/** Fisher–Yates shuffle of [0, n) with the given source of integers. */
export function permutation(n: number, randomInt: (bound: number) => number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    const swap = order[i];
    order[i] = order[j];
    order[j] = swap;
  }
  return order;
}
