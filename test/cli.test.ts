import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { getBackend, setBackend } from '../lib/backend';
import { main } from '../lib/cli/main';
import { mnist } from '../lib/data';
import { load, save } from '../lib/io';
import { GPT } from '../lib/nn/gpt';
import { zeros } from '../lib/tensor';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function runWith(signal: AbortSignal | undefined, args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    signal,
  });
  return { code, stdout, stderr };
}

function run(...args: string[]): Promise<Run> {
  return runWith(undefined, args);
}

const initialBackend = getBackend().name;
let dir: string;
let model: string;
let trained: Run;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodegrad-cli-'));
  model = path.join(dir, 'mlp.safetensors');
  trained = await run(
    'train',
    'mnist',
    '--epochs',
    '2',
    '--train-size',
    '1000',
    '--out',
    model,
    '--no-progress',
  );
}, 60_000);

afterEach(() => setBackend(initialBackend));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('nodegrad train mnist', () => {
  it('trains, prints a line per epoch and the test accuracy, and saves loadable weights', () => {
    expect(trained.stderr).toBe('');
    expect(trained.code).toBe(0);
    const lines = trained.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^training a 784-256-128-10 ReLU perceptron on 1,000 digits, /);
    expect(lines[0]).toMatch(/sgd lr 0\.03 momentum 0\.9, batch 64$/);
    expect(lines[1]).toMatch(
      new RegExp(
        '^epoch 1\\/2 {2}loss \\d\\.\\d{4} {2}train acc \\d+\\.\\d\\d% {2}' +
          'test acc \\d+\\.\\d\\d% {2}[\\d,]+ samples\\/s$',
      ),
    );
    expect(lines[2]).toMatch(/^epoch 2\/2 /);
    // Both counts with thousands separators: over 50% of 2,000 is at least 1,000.
    expect(lines[3]).toMatch(/^test accuracy \d+\.\d\d% \(\d,\d{3} of 2,000 held-out digits\)$/);
    expect(lines[4]).toBe(`saved the weights to ${model}`);

    // 32 steps on 1,000 digits: well past chance (10%), far from the full run's 95%.
    const accuracy = Number(/test accuracy (\S+)%/.exec(lines[3])![1]);
    expect(accuracy).toBeGreaterThan(50);

    const weights = load(model);
    expect(Object.keys(weights)).toEqual([
      '0.weight',
      '0.bias',
      '2.weight',
      '2.bias',
      '4.weight',
      '4.bias',
    ]);
    expect(weights['0.weight'].shape).toEqual([256, 784]);
    expect(weights['4.weight'].shape).toEqual([10, 128]);
  });

  it('runs on the reference backend', async () => {
    const out = path.join(dir, 'reference.safetensors');
    const result = await run(
      'train',
      'mnist',
      '--epochs',
      '1',
      '--train-size',
      '300',
      '--backend',
      'reference',
      '--optimizer',
      'adam',
      '--out',
      out,
      '--no-progress',
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/reference backend, adam lr 0\.001, batch 64/);
    expect(fs.existsSync(out)).toBe(true);
  }, 60_000);
});

describe('nodegrad train mnist --model lstm', () => {
  it('trains the row-by-row LSTM with Adam and a cosine schedule; evaluate finds it', async () => {
    const out = path.join(dir, 'lstm.safetensors');
    const result = await run(
      'train',
      'mnist',
      '--model',
      'lstm',
      '--epochs',
      '1',
      '--train-size',
      '640',
      '--out',
      out,
      '--no-progress',
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^training a row-by-row LSTM\(28, 128\) \+ Linear\(128, 10\) on 640 digits, /,
    );
    expect(lines[0]).toMatch(/adam lr 0\.002 \(cosine schedule\), batch 64$/);
    expect(Object.keys(load(out))).toEqual([
      'lstm.weight_ih_l0',
      'lstm.weight_hh_l0',
      'lstm.bias_ih_l0',
      'lstm.bias_hh_l0',
      'fc.weight',
      'fc.bias',
    ]);

    // Ten steps are past chance; evaluate recognises the network from its keys.
    const reported = /test accuracy (\S+%)/.exec(result.stdout)![1];
    expect(Number.parseFloat(reported)).toBeGreaterThan(20);
    const evaluated = await run('evaluate', '--model', out);
    expect(evaluated.stdout).toMatch(new RegExp(`^test accuracy ${reported.replace('.', '\\.')} `));
  }, 60_000);
});

describe('nodegrad train mnist --model cnn', () => {
  it('trains the CNN with Adam and a cosine schedule; evaluate and predict find it', async () => {
    const out = path.join(dir, 'cnn.safetensors');
    const result = await run(
      'train',
      'mnist',
      '--model',
      'cnn',
      '--epochs',
      '1',
      '--train-size',
      '640',
      '--out',
      out,
      '--no-progress',
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^training a CNN \(3x3 conv 32 and 64, .*\) \+ MLP 3136-128-10 on 640 digits, /,
    );
    expect(lines[0]).toMatch(/adam lr 0\.001 \(cosine schedule\), batch 64$/);
    const state = load(out);
    expect(Object.keys(state)).toEqual([
      'conv1.weight',
      'conv1.bias',
      'conv2.weight',
      'conv2.bias',
      'fc1.weight',
      'fc1.bias',
      'fc2.weight',
      'fc2.bias',
    ]);
    expect(state['conv2.weight'].shape).toEqual([64, 32, 3, 3]);

    // Ten steps are well past chance; evaluate recognises the network from its keys.
    const reported = /test accuracy (\S+%)/.exec(result.stdout)![1];
    expect(Number.parseFloat(reported)).toBeGreaterThan(40);
    const evaluated = await run('evaluate', '--model', out);
    expect(evaluated.stdout).toMatch(new RegExp(`^test accuracy ${reported.replace('.', '\\.')} `));
    const predicted = await run('predict', '--model', out, '--index', '0');
    expect(predicted.stdout).toMatch(/^image 0: predicted \d \(label \d\)\n$/);
  }, 60_000);
});

describe('nodegrad predict and evaluate', () => {
  it('predict prints the digit for a held-out image next to its label', async () => {
    const result = await run('predict', '--model', model, '--index', '3');
    expect(result.code).toBe(0);
    const label = mnist({ split: 'test' }).labels[3];
    expect(result.stdout).toMatch(new RegExp(`^image 3: predicted \\d \\(label ${label}\\)\\n$`));
  });

  it('predict --probabilities lists ten probabilities that sum to 1', async () => {
    const result = await run('predict', '--model', model, '--index', '0', '--probabilities');
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(11);
    const probabilities = lines.slice(1).map((line) => Number(line.trim().split(/\s+/)[1]));
    expect(probabilities.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 3);
    const predicted = Number(/predicted (\d)/.exec(lines[0])![1]);
    expect(Math.max(...probabilities)).toBe(probabilities[predicted]);
  });

  it('evaluate prints the accuracy that training reported', async () => {
    const result = await run('evaluate', '--model', model);
    expect(result.code).toBe(0);
    const reported = /test accuracy (\S+%)/.exec(trained.stdout)![1];
    expect(result.stdout).toMatch(
      new RegExp(`^test accuracy ${reported.replace('.', '\\.')} \\(\\d,\\d{3} of 2,000`),
    );
  });
});

describe('nodegrad errors', () => {
  function expectOneLine(result: Run, pattern: RegExp): void {
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(pattern);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  }

  it('a missing model file', async () => {
    const missing = path.join(dir, 'missing.safetensors');
    const result = await run('predict', '--model', missing, '--index', '0');
    expectOneLine(result, /^nodegrad: cannot read model .*missing\.safetensors: ENOENT/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('weights of another shape', async () => {
    const other = path.join(dir, 'other.safetensors');
    const dict = load(model);
    dict['0.weight'] = zeros([10, 784]);
    save(dict, other);
    const result = await run('evaluate', '--model', other);
    expectOneLine(
      result,
      /^nodegrad: loadStateDict\(0\.weight\): expected shape \[256, 784\], received \[10, 784\]\n$/,
    );
  });

  it('an index outside the held-out digits', async () => {
    const result = await run('predict', '--model', model, '--index', '2000');
    expectOneLine(
      result,
      /^nodegrad: --index: expected an integer in \[0, 1999\], received 2000\n$/,
    );
  });

  it('bad flags and an unknown dataset', async () => {
    expectOneLine(
      await run('train', 'mnist', '--epochs', '0'),
      /--epochs <n>.*expected an integer >= 1/,
    );
    expectOneLine(await run('train', 'mnist', '--lr', 'fast'), /--lr <rate>.*positive number/);
    expectOneLine(await run('train', 'mnist', '--backend', 'gpu'), /--backend.*native, reference/);
    expectOneLine(await run('train', 'cifar'), /expected mnist \(or text/);
    expectOneLine(await run('predict', '--index', '1'), /required option '--model <file>'/);
    expectOneLine(
      await run('train', 'mnist', '--train-size', '9000', '--out', path.join(dir, 'x')),
      /^nodegrad: --train-size: expected an integer in \[1, 8000\], received 9000\n$/,
    );
    const unwritable = await run('train', 'mnist', '--out', '/nonexistent/dir/x.safetensors');
    expectOneLine(
      unwritable,
      /^nodegrad: --out \/nonexistent\/dir\/x.safetensors: expected a file in a writable directory/,
    );
    expect(unwritable.stdout).toBe(''); // refused before training started
    const aDirectory = await run('train', 'mnist', '--out', dir);
    expectOneLine(aDirectory, /expected a file in a writable directory, received a directory\n$/);
    expect(aDirectory.stdout).toBe('');
    const plainFile = path.join(dir, 'plain');
    fs.writeFileSync(plainFile, '');
    const underAFile = await run('train', 'mnist', '--out', path.join(plainFile, 'x.safetensors'));
    expectOneLine(underAFile, /, which is not a directory\n$/);
    expect(underAFile.stdout).toBe('');
    expectOneLine(
      await run('train', 'mnist', '--optimizer', 'adam', '--momentum', '0.5'),
      /^nodegrad: --momentum: expected --optimizer sgd .*, received --optimizer adam\n$/,
    );
    // The CNN trains with Adam unless told otherwise: its momentum would be ignored.
    expectOneLine(
      await run('train', 'mnist', '--model', 'cnn', '--momentum', '0.5'),
      /, received --model cnn, which trains with adam\n$/,
    );
  });

  it('an interrupted training exits 130 and saves nothing', async () => {
    const out = path.join(dir, 'interrupted.safetensors');
    const controller = new AbortController();
    const running = runWith(controller.signal, ['train', 'mnist', '--out', out, '--no-progress']);
    setTimeout(() => controller.abort(), 50);
    const result = await running;
    expect(result.code).toBe(130);
    expect(result.stderr).toBe('nodegrad: interrupted; no weights were saved\n');
    expect(fs.existsSync(out)).toBe(false);
  });

  it('--help exits 0', async () => {
    const result = await run('train', '--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('--batch-size <n>');
  });

  it('a file that holds a network other than the MNIST ones, named', async () => {
    const gptFile = path.join(dir, 'gpt.safetensors');
    const gpt = new GPT({ vocabSize: 5, contextLength: 4, dModel: 8, numHeads: 2, numLayers: 1 });
    save(gpt.stateDict(), gptFile);
    const takes = /evaluate and predict take the MNIST networks of nodegrad train mnist/;
    for (const command of [['evaluate'], ['predict', '--index', '0']]) {
      const result = await run(...command, '--model', gptFile);
      expectOneLine(result, /holds a character-level GPT \(nodegrad train text\), not an MNIST /);
      expect(result.stderr).toMatch(takes);
      expect(result.stderr).not.toMatch(/missing keys|unexpected keys/);
    }

    const otherFile = path.join(dir, 'other-keys.safetensors');
    const keys = ['a.weight', 'b.weight', 'c.weight', 'd.weight', 'e.weight', 'f.weight'];
    save(Object.fromEntries(keys.map((key) => [key, zeros([2])])), otherFile);
    const other = await run('evaluate', '--model', otherFile);
    expectOneLine(
      other,
      new RegExp(
        'holds no MNIST network: its keys are ' +
          'a\\.weight, b\\.weight, c\\.weight, d\\.weight, … \\(6 in all\\)',
      ),
    );
    expect(other.stderr).toMatch(takes);
  });

  it('a file that is not safetensors', async () => {
    const notes = path.join(dir, 'notes.txt');
    fs.writeFileSync(notes, 'some notes, not weights\n');
    const result = await run('evaluate', '--model', notes);
    expectOneLine(
      result,
      new RegExp(
        '^nodegrad: \\S+notes\\.txt is not a safetensors file: ' +
          'its first 8 bytes give a header length of \\d+, ',
      ),
    );
  });
});

describe('nodegrad help', () => {
  it('names both trainings and the MNIST networks', async () => {
    const top = await run('--help');
    expect(top.code).toBe(0);
    top.stdout = top.stdout.replace(/\s+/g, ' ');
    expect(top.stdout).toContain('train mnist');
    expect(top.stdout).toContain('train text');
    expect(top.stdout).toMatch(/mlp, cnn or lstm/);
    const train = await run('train', '--help');
    train.stdout = train.stdout.replace(/\s+/g, ' ');
    expect(train.stdout).toContain('nodegrad train text --help');
    expect(train.stdout).not.toMatch(/\(mnist\)/);
    expect(train.stdout).not.toContain('train the 784-256-128-10 ReLU perceptron');
  });

  it('train mnist --help gives the defaults of each network', async () => {
    const help = (await run('train', 'mnist', '--help')).stdout.replace(/\s+/g, ' ');
    expect(help).not.toContain('default: "mnist-mlp.safetensors"');
    expect(help).not.toContain('default: "sgd"');
    expect(help).toContain('mnist-<model>.safetensors');
    expect(help).toContain('(default: sgd for mlp, adam for lstm and cnn)');
    expect(help).toContain(
      '(default: 0.03 for mlp, 0.002 for lstm, 0.001 for cnn; with --optimizer given, 0.03 for ' +
        'sgd, 0.001 for adam and adamw)',
    );
  });

  it('train text --help lists its options', async () => {
    const help = await run('train', 'text', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--steps <n>');
    expect(help.stdout).toContain('character-level GPT');
  });
});

it('the command file starts with a shebang, for the package bin', () => {
  const source = fs.readFileSync(path.join(__dirname, '..', 'lib', 'cli', 'main.ts'), 'utf8');
  expect(source.startsWith('#!/usr/bin/env node\n')).toBe(true);
});

it('exits quietly when the reader of its output goes away (nodegrad ... | head -1)', async () => {
  // The compiled command, as the package bin runs it; `npm install` builds dist/.
  const bin = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [
    bin,
    'predict',
    '--model',
    model,
    '--index',
    '3',
    '--probabilities',
  ]);
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const code = await new Promise((resolve) => child.on('close', resolve));
  expect(stderr).toBe('');
  expect(code).toBe(0);
});
