/**
 * The character-level GPT: shapes and PyTorch-style names, causality, tied weights, seeded
 * sampling, a short training run that learns a repeating text, and `nodegrad train text`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';

import { main } from '../lib/cli/main';
import { CharVocabulary, CharWindows } from '../lib/data';
import { loadWithMetadata } from '../lib/io';
import { clipGradNorm_, GPT } from '../lib/nn';
import { AdamW } from '../lib/optim';
import { Generator, manualSeed, noGrad } from '../lib/tensor';

const small = { vocabSize: 7, contextLength: 8, dModel: 16, numHeads: 2, numLayers: 2 };
const batchOf = (tokens: number[], batch: number) => ({
  tokens: Int32Array.from(tokens),
  batch,
  time: tokens.length / batch,
});

beforeEach(() => manualSeed(3));

describe('GPT', () => {
  it('maps [batch, time] tokens to [batch, time, vocab] logits, with named blocks', () => {
    const gpt = new GPT(small);
    expect(gpt.forward(batchOf([0, 1, 2, 3, 4, 5], 2)).shape).toEqual([2, 3, 7]);
    const keys = Object.keys(gpt.stateDict());
    expect(keys.slice(0, 3)).toEqual([
      'tok_emb.weight',
      'pos_emb.weight',
      'layers.0.self_attn.in_proj_weight',
    ]);
    expect(keys).toContain('layers.1.norm2.bias');
    expect(keys.slice(-3)).toEqual(['norm.weight', 'norm.bias', 'head.weight']);
  });

  it('is causal: a later token changes no earlier logit', () => {
    const gpt = new GPT(small);
    const a = noGrad(() => gpt.forward(batchOf([1, 2, 3, 4, 5], 1)).data);
    const b = noGrad(() => gpt.forward(batchOf([1, 2, 3, 6, 0], 1)).data);
    expect(Array.from(b.subarray(0, 3 * 7))).toEqual(Array.from(a.subarray(0, 3 * 7)));
    expect(Array.from(b.subarray(3 * 7))).not.toEqual(Array.from(a.subarray(3 * 7)));
  });

  it('with tied weights has no head and predicts through the token embedding', () => {
    const gpt = new GPT({ ...small, tieWeights: true });
    expect(gpt.head).toBeNull();
    expect(Object.keys(gpt.stateDict())).not.toContain('head.weight');
    const loss = gpt.loss(batchOf([1, 2, 3, 4], 1), Int32Array.from([2, 3, 4, 5]));
    loss.backward();
    // The embedding's gradient has rows for the tokens read and from every logit.
    expect(gpt.tok_emb.weight.grad!.data.every((v) => v !== 0)).toBe(true);
  });

  it('samples the same continuation from the same seed, within the vocabulary', () => {
    const gpt = new GPT(small);
    const a = gpt.generate([1, 2], 20, { temperature: 0.7, generator: new Generator(5) });
    const b = gpt.generate([1, 2], 20, { temperature: 0.7, generator: new Generator(5) });
    expect(a.length).toBe(22);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(a.every((t) => t >= 0 && t < 7)).toBe(true);
  });

  it('names bad tokens, lengths and temperatures', () => {
    const gpt = new GPT(small);
    expect(() => gpt.forward(batchOf([0, 1, 2], 2))).toThrow(TypeError); // time 1.5
    expect(() => gpt.forward({ tokens: new Int32Array(18), batch: 2, time: 9 })).toThrow(
      'GPT(time): expected an integer in [1, 8], received 9',
    );
    expect(() => gpt.forward({ tokens: new Int32Array(5), batch: 2, time: 3 })).toThrow(
      'GPT(tokens): expected batch * time = 6 tokens, received 5 tokens',
    );
    expect(() => gpt.forward(batchOf([0, 9], 1))).toThrow(
      /indices\[1\]\): expected an index in \[0, 7\)/,
    );
    expect(() => gpt.generate([1], 3, { temperature: 0 })).toThrow(
      'GPT.generate(temperature): expected a number > 0, received 0',
    );
  });

  it('learns a repeating text: the loss falls from log(vocab) to near 0 in 150 steps', () => {
    const vocab = new CharVocabulary('abcdefg');
    const windows = new CharWindows(vocab.encode('abcdefg'.repeat(40)), 8, 0);
    const gpt = new GPT(small);
    const optimizer = new AdamW(gpt.parameters(), { lr: 1e-2 });
    const losses: number[] = [];
    for (let step = 0; step < 150; step++) {
      const batch = windows.sample(8);
      const loss = gpt.loss(batch, batch.targets);
      optimizer.zeroGrad();
      loss.backward();
      clipGradNorm_(gpt.parameters(), 1);
      optimizer.step();
      losses.push(loss.item());
    }
    expect(losses[0]).toBeGreaterThan(1.5); // log 7 = 1.95
    expect(losses[149]).toBeLessThan(0.05);
    const written = vocab.decode(gpt.generate(vocab.encode('abc'), 11, { temperature: 0.5 }));
    expect(written).toBe('abcdefgabcdefg');
  });
});

describe('nodegrad train text', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodegrad-text-cli-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function run(...args: string[]) {
    let stdout = '';
    let stderr = '';
    const code = await main(args, {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
    });
    return { code, stdout, stderr };
  }

  it('trains on a file, reports train and held-out loss, prints samples and saves', async () => {
    const file = path.join(dir, 'fox.txt');
    fs.writeFileSync(file, 'The quick brown fox jumps over the lazy dog. '.repeat(30));
    const out = path.join(dir, 'gpt.safetensors');
    const result = await run(
      'train',
      'text',
      '--file',
      file,
      '--steps',
      '4',
      '--eval-every',
      '2',
      '--eval-windows',
      '4',
      '--batch-size',
      '2',
      '--sample-length',
      '10',
      '--out',
      out,
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^training a character-level GPT \(412,\d{3} parameters\) on .*fox\.txt: 1,350 characters, 29 distinct; (native|reference)/,
    );
    expect(lines[1]).toMatch(
      /^step 2\/4 {2}train loss \d\.\d{3} {2}held-out loss \d\.\d{3} {2}lr /,
    );
    expect(lines[2]).toMatch(/^step 4\/4 /);
    expect(lines[3]).toMatch(/^trained in \d+\.\d s; samples at temperature 0\.8:$/);
    expect(lines.filter((l) => l === '---')).toHaveLength(3);
    const { tensors, metadata } = loadWithMetadata(out);
    expect(JSON.parse(metadata.vocabulary)).toHaveLength(29);
    expect(tensors['head.weight'].shape).toEqual([29, 128]);
  });

  it('rejects bad flags and a missing file in one line', async () => {
    const steps = await run('train', 'text', '--steps', '0');
    expect(steps.code).toBe(1);
    expect(steps.stderr).toMatch(/--steps <n>.*expected an integer >= 1/);
    const missing = await run('train', 'text', '--file', path.join(dir, 'none.txt'));
    expect(missing.stderr).toMatch(/^nodegrad: readTextFile\(.*none\.txt\): ENOENT/);
    const unknown = await run('train', 'cifar');
    expect(unknown.stderr).toMatch(/expected mnist \(or text, as `nodegrad train text`\)/);
  });
});
