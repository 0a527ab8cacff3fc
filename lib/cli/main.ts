#!/usr/bin/env node
/**
 * The `nodegrad` command: train, evaluate and predict with the MNIST networks (an MLP, a CNN
 * and an LSTM), and train a character-level GPT on a text.
 *
 *   nodegrad train mnist [--model mlp|cnn|lstm] [--epochs 10] [--batch-size 64] ...
 *   nodegrad evaluate --model mnist-mlp.safetensors
 *   nodegrad predict --model mnist-mlp.safetensors --index 17
 *   nodegrad doctor [--json]
 *   nodegrad train text [--file F] [--steps 2000] ...   (a character-level GPT)
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

import type { BackendName } from '../backend';
import { debug } from '../debug';
import type { EpochLogs } from '../train';
import { addDoctorCommand } from './doctor';
import { backendOption, count, describeBackend, integer, positive, useBackend } from './options';
import { isTextTraining, textProgram } from './text-command';
import { evaluateMnist, predictMnist, trainMnist } from './mnist-job';
import { MNIST_MODELS, type MnistModel, type MnistModelName } from './mnist-models';
import type { OptimizerName } from './mnist-job';

/** Where the command writes: the process's streams, or buffers in tests. */
export interface CliIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Aborting it stops training at the next batch (the command wires it to Ctrl-C). */
  signal?: AbortSignal;
}

/** SGD's rate reaches 96.0-96.4% on the held-out digits in 10 epochs (seeds 0-2); Adam's is
 * PyTorch's default. */
const DEFAULT_LR: Record<OptimizerName, number> = { sgd: 0.03, adam: 0.001, adamw: 0.001 };

interface TrainFlags {
  model: MnistModelName;
  epochs: number;
  batchSize: number;
  lr?: number;
  momentum: number;
  optimizer?: OptimizerName;
  seed: number;
  backend?: BackendName;
  out?: string;
  trainSize: number;
  progress?: boolean;
}

/**
 * Runs the command line `args` (without `node` and the script) and resolves with the exit
 * code. Errors are printed as one line on stderr; nothing is thrown.
 *
 * @example
 * const code = await main(['train', 'mnist', '--epochs', '1']);
 */
export async function main(args: string[], io: CliIO = process): Promise<number> {
  const print = (line = '') => io.stdout.write(`${line}\n`);
  // `train text` has options of its own: it is a program of its own.
  const text = isTextTraining(args);
  const program = text ? textProgram(io, print) : buildProgram(io, print);
  try {
    await program.parseAsync(text ? args.slice(2) : args, { from: 'user' });
    return 0;
  } catch (error) {
    // Commander has already printed its own message (or the help, with exit code 0).
    if (error instanceof CommanderError) return error.exitCode;
    if (isAbortError(error)) {
      io.stderr.write('nodegrad: interrupted; no weights were saved\n');
      return 130;
    }
    debug('%s', (error as Error)?.stack ?? error);
    io.stderr.write(`nodegrad: ${(error as Error)?.message ?? String(error)}\n`);
    return 1;
  }
}

const EXAMPLES = `
Examples:
  nodegrad train mnist --model cnn     saves mnist-cnn.safetensors
  nodegrad evaluate --model mnist-cnn.safetensors
  nodegrad predict --model mnist-cnn.safetensors --index 17
  nodegrad train text --out gpt.safetensors
  nodegrad train mnist --help          the options of train mnist
  nodegrad train text --help           the options of train text`;

function buildProgram(io: CliIO, print: (line?: string) => void): Command {
  const program = new Command('nodegrad')
    .description(
      'Train neural networks in Node.js from the command line: MNIST digit classifiers (an ' +
        'MLP, a CNN, an LSTM) and a character-level GPT on a text.',
    )
    .version(packageVersion())
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(run nodegrad --help for usage)')
    .addHelpText('after', EXAMPLES);

  program
    .command('train')
    .summary('train a network: mnist (--model mlp, cnn or lstm) or text (a character-level GPT)')
    .description(
      'train mnist: a digit classifier (--model mlp, cnn or lstm) on the MNIST digits, saved ' +
        'for evaluate and predict; train text: a character-level GPT on a text file or Moby ' +
        'Dick (its options: nodegrad train text --help)',
    )
    .argument(
      '<dataset>',
      'mnist (the options below) or text (options of its own: nodegrad train text --help)',
      dataset,
    )
    .addOption(
      new Option(
        '--model <name>',
        'network: mlp (784-256-128-10), lstm (the image row by row) or cnn (convolutional)',
      )
        .choices(Object.keys(MNIST_MODELS))
        .default('mlp'),
    )
    .option('--epochs <n>', 'passes over the training digits', integer(1), 10)
    .option('--batch-size <n>', 'digits per batch', integer(1), 64)
    .option(
      '--lr <rate>',
      `learning rate (default: ${perModel((spec) => spec.lr)}; with --optimizer given, ` +
        `${byValue(Object.entries(DEFAULT_LR))})`,
      positive,
    )
    .option('--momentum <m>', 'SGD momentum', fraction, 0.9)
    .addOption(
      new Option(
        '--optimizer <name>',
        `optimizer (default: ${perModel((spec) => spec.optimizer)})`,
      ).choices(['sgd', 'adam', 'adamw']),
    )
    .option('--seed <n>', 'seed of the initial weights and the shuffling', integer(0), 0)
    .addOption(backendOption())
    .option(
      '--out <file>',
      'where to save the weights (safetensors; default: mnist-<model>.safetensors)',
    )
    .option('--train-size <n>', 'training digits, from the first (at most 8000)', integer(1), 8000)
    .option('--progress', 'show a progress bar (the default when stderr is a terminal)')
    .option('--no-progress', 'hide the progress bar')
    .action(async (_dataset: string, given: TrainFlags, command: Command) => {
      const spec = MNIST_MODELS[given.model];
      // Each network brings its own optimizer, rate and file name; a named optimizer, its rate.
      const optimizer = given.optimizer ?? spec.optimizer;
      const lr = given.lr ?? (given.optimizer ? DEFAULT_LR[optimizer] : spec.lr);
      const flags = {
        ...given,
        optimizer,
        lr,
        out: given.out ?? `mnist-${given.model}.safetensors`,
      };
      if (optimizer !== 'sgd' && command.getOptionValueSource('momentum') === 'cli') {
        const received = given.optimizer
          ? `--optimizer ${optimizer}`
          : `--model ${given.model}, which trains with ${optimizer}`;
        throw new RangeError(
          `--momentum: expected --optimizer sgd (Adam and AdamW have betas), received ${received}`,
        );
      }
      useBackend(flags.backend);
      const result = await trainMnist({
        ...flags,
        progress: flags.progress ?? process.stderr.isTTY === true,
        signal: io.signal,
        onStart: (trainSize) =>
          print(
            `training a ${spec.description} on ${count(trainSize)} digits, ` +
              `${describeBackend()}, ${describeOptimizer(flags)}` +
              `${spec.cosine ? ' (cosine schedule)' : ''}, ` +
              `batch ${flags.batchSize}`,
          ),
        onEpochEnd: (logs, epochs) => print(epochLine(logs, epochs)),
      });
      const correct = Math.round(result.testAccuracy * result.testSize);
      print(
        `test accuracy ${percent(result.testAccuracy)} ` +
          `(${count(correct)} of ${count(result.testSize)} held-out digits)`,
      );
      print(`saved the weights to ${flags.out}`);
    });

  program
    .command('evaluate')
    .description('print the test accuracy of saved weights on the held-out digits')
    .requiredOption('--model <file>', 'weights saved by nodegrad train mnist (any --model)')
    .addOption(backendOption())
    .action(async (flags: { model: string; backend?: BackendName }) => {
      useBackend(flags.backend);
      const { loss, accuracy, samples } = await evaluateMnist(flags.model);
      const correct = Math.round(accuracy * samples);
      print(
        `test accuracy ${percent(accuracy)} (${count(correct)} of ${count(samples)} held-out ` +
          `digits), ` +
          `loss ${loss.toFixed(4)}`,
      );
    });

  program
    .command('predict')
    .description('print the digit the saved weights predict for a held-out image')
    .requiredOption('--model <file>', 'weights saved by nodegrad train mnist (any --model)')
    .requiredOption('--index <n>', 'held-out image, from 0 (there are 2,000)', integer(0))
    .option('--probabilities', 'also print the probability of every digit')
    .addOption(backendOption())
    .action(
      (flags: { model: string; index: number; probabilities?: boolean; backend?: BackendName }) => {
        useBackend(flags.backend);
        const { predicted, label, probabilities } = predictMnist(flags.model, flags.index);
        print(`image ${flags.index}: predicted ${predicted} (label ${label})`);
        if (flags.probabilities) {
          probabilities.forEach((p, digit) => print(`  ${digit}  ${p.toFixed(4)}`));
        }
      },
    );

  addDoctorCommand(program, packageVersion(), print);

  return program;
}

/** "sgd for mlp, adam for lstm and cnn": a setting's default for each network, for the help. */
function perModel(setting: (spec: MnistModel) => string | number): string {
  return byValue(Object.entries(MNIST_MODELS).map(([name, spec]) => [name, setting(spec)]));
}

/** "0.03 for sgd, 0.001 for adam and adamw" from [name, value] pairs, in their order. */
function byValue(pairs: [string, string | number][]): string {
  const names = new Map<string, string[]>();
  for (const [name, value] of pairs)
    names.set(String(value), [...(names.get(String(value)) ?? []), name]);
  return [...names].map(([value, them]) => `${value} for ${them.join(' and ')}`).join(', ');
}

function describeOptimizer(flags: { optimizer: OptimizerName; lr: number; momentum: number }) {
  const momentum = flags.optimizer === 'sgd' ? ` momentum ${flags.momentum}` : '';
  return `${flags.optimizer} lr ${flags.lr}${momentum}`;
}

function epochLine(logs: EpochLogs, epochs: number): string {
  const width = String(epochs).length;
  return [
    `epoch ${String(logs.epoch + 1).padStart(width)}/${epochs}`,
    `loss ${logs.loss.toFixed(4)}`,
    `train acc ${percent(logs.accuracy ?? NaN)}`,
    `test acc ${percent(logs.valAccuracy ?? NaN)}`,
    `${Math.round(logs.samplesPerSec).toLocaleString('en-US')} samples/s`,
  ].join('  ');
}

function percent(fraction: number): string {
  return `${(100 * fraction).toFixed(2)}%`;
}

function dataset(value: string): string {
  if (value !== 'mnist') {
    throw new InvalidArgumentError('expected mnist (or text, as `nodegrad train text`).');
  }
  return value;
}

function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n < 1)) {
    throw new InvalidArgumentError('expected a number in [0, 1).');
  }
  return n;
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

function packageVersion(): string {
  try {
    const file = path.join(__dirname, '..', '..', 'package.json');
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  // A reader that goes away (`nodegrad predict ... | head -1`) is not an error of ours.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    controller.abort();
    process.exit(process.exitCode ?? 0);
  });
  void main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    signal: controller.signal,
  }).then((code) => {
    process.exitCode = code;
  });
}
