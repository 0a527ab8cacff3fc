/**
 * A character-level GPT on Moby Dick (or a text file given as the first argument): 2 pre-norm
 * transformer layers, d_model 128, 4 heads, context 64, learned position embeddings and a
 * separate (untied) output layer, trained with AdamW and gradient clipping, then asked to write.
 *
 * Run it with `npx tsx examples/gpt.ts [file] [steps]` (`nodegrad train text` is the same job
 * with a warm-up and cosine schedule and a held-out loss).
 */
import { CharVocabulary, CharWindows, mobyDick, readTextFile, splitTokens } from '../lib/data';
import { clipGradNorm_, GPT } from '../lib/nn';
import { AdamW } from '../lib/optim';
import { Generator, manualSeed, noGrad } from '../lib/tensor';

const [file, stepsArg] = process.argv.slice(2);
const steps = Number(stepsArg ?? 1500);
const text = file === undefined ? mobyDick() : readTextFile(file, 130);
const vocab = new CharVocabulary(text);
const [train, heldOut] = splitTokens(vocab.encode(text));

manualSeed(0);
const model = new GPT({ vocabSize: vocab.size }); // context 64, d_model 128, 4 heads, 2 layers
const optimizer = new AdamW(model.parameters(), { lr: 2e-3, weightDecay: 0.01 });
const batches = new CharWindows(train, model.contextLength, 0);
const heldOutBatch = new CharWindows(heldOut, model.contextLength, 1).sample(256);

const started = performance.now();
for (let step = 1; step <= steps; step++) {
  const batch = batches.sample(32);
  const loss = model.loss(batch, batch.targets);
  optimizer.zeroGrad();
  loss.backward();
  clipGradNorm_(model.parameters(), 1);
  optimizer.step();
  if (step % 100 === 0 || step === steps) {
    const held = noGrad(() => model.loss(heldOutBatch, heldOutBatch.targets).item());
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    console.log(
      `step ${step}  loss ${loss.item().toFixed(3)}  held-out ${held.toFixed(3)}  ${seconds} s`,
    );
  }
}

// Moby Dick's first words, or the start of a custom text's held-out part.
const prompt = file === undefined ? vocab.encode('Call me Ishmael') : heldOut.subarray(0, 16);
const written = model.generate(prompt, 300, { temperature: 0.8, generator: new Generator(0) });
console.log(vocab.decode(written));
