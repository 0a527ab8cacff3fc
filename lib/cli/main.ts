#!/usr/bin/env node
/**
 * The `nodegrad` command: train, evaluate and predict with the MNIST perceptron.
 *
 *   nodegrad train mnist [--epochs 10] [--batch-size 64] [--lr 0.03] ...
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
import { MNIST_MODELS, type MnistModelName } from './mnist-models';
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
  optimizer: OptimizerName;
  seed: number;
  backend?: BackendName;
  out: string;
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

function buildProgram(io: CliIO, print: (line?: string) => void): Command {
  const program = new Command('nodegrad')
    .description('Train neural networks in Node.js: the MNIST perceptron from the command line.')
    .version(packageVersion())
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(run nodegrad --help for usage)');

  program
    .command('train')
    .description('train the 784-256-128-10 ReLU perceptron on the MNIST digits and save it')
    .argument('<dataset>', 'the dataset to train on (mnist)', dataset)
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
      'learning rate (default: 0.03 for sgd, 0.001 for adam and adamw)',
      positive,
    )
    .option('--momentum <m>', 'SGD momentum', fraction, 0.9)
    .addOption(
      new Option('--optimizer <name>', 'optimizer')
        .choices(['sgd', 'adam', 'adamw'])
        .default('sgd'),
    )
    .option('--seed <n>', 'seed of the initial weights and the shuffling', integer(0), 0)
    .addOption(backendOption())
    .option('--out <file>', 'where to save the weights (safetensors)', 'mnist-mlp.safetensors')
    .option('--train-size <n>', 'training digits, from the first (at most 8000)', integer(1), 8000)
    .option('--progress', 'show a progress bar (the default when stderr is a terminal)')
    .option('--no-progress', 'hide the progress bar')
    .action(async (_dataset: string, flags: TrainFlags, command: Command) => {
      if (flags.optimizer !== 'sgd' && command.getOptionValueSource('momentum') === 'cli') {
        throw new RangeError(
          `--momentum: expected --optimizer sgd (Adam and AdamW have betas), received ` +
            `--optimizer ${flags.optimizer}`,
        );
      }
      useBackend(flags.backend);
      const spec = MNIST_MODELS[flags.model];
      // A network other than the perceptron brings its own optimizer, rate and file name.
      const given = (option: string) => command.getOptionValueSource(option) === 'cli';
      if (flags.model !== 'mlp' && !given('optimizer')) flags.optimizer = spec.optimizer;
      if (flags.model !== 'mlp' && !given('out')) flags.out = `mnist-${flags.model}.safetensors`;
      const modelLr = flags.model !== 'mlp' && !given('optimizer') ? spec.lr : undefined;
      const lr = flags.lr ?? modelLr ?? DEFAULT_LR[flags.optimizer];
      const result = await trainMnist({
        ...flags,
        lr,
        progress: flags.progress ?? process.stderr.isTTY === true,
        signal: io.signal,
        onStart: (trainSize) =>
          print(
            `training a ${spec.description} on ${count(trainSize)} digits, ` +
              `${describeBackend()}, ${describeOptimizer({ ...flags, lr })}` +
              `${spec.cosine ? ' (cosine schedule)' : ''}, ` +
              `batch ${flags.batchSize}`,
          ),
        onEpochEnd: (logs, epochs) => print(epochLine(logs, epochs)),
      });
      const correct = Math.round(result.testAccuracy * result.testSize);
      print(
        `test accuracy ${percent(result.testAccuracy)} ` +
          `(${correct} of ${count(result.testSize)} held-out digits)`,
      );
      print(`saved the weights to ${flags.out}`);
    });

  program
    .command('evaluate')
    .description('print the test accuracy of saved weights on the held-out digits')
    .requiredOption('--model <file>', 'weights saved by nodegrad train (safetensors)')
    .addOption(backendOption())
    .action(async (flags: { model: string; backend?: BackendName }) => {
      useBackend(flags.backend);
      const { loss, accuracy, samples } = await evaluateMnist(flags.model);
      const correct = Math.round(accuracy * samples);
      print(
        `test accuracy ${percent(accuracy)} (${correct} of ${count(samples)} held-out digits), ` +
          `loss ${loss.toFixed(4)}`,
      );
    });

  program
    .command('predict')
    .description('print the digit the saved weights predict for a held-out image')
    .requiredOption('--model <file>', 'weights saved by nodegrad train (safetensors)')
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

function describeOptimizer(flags: TrainFlags & { lr: number }): string {
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
