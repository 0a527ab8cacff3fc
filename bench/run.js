#!/usr/bin/env node
// `npm run bench`: nodegrad next to its peers on workloads W0-W6 (workloads/index.js), in one
// run, interleaved, with medians and min/max of several repetitions and nodegrad's ratio to
// each peer. Prints the tables and writes them to bench/results.md (and the raw numbers to
// bench/.cache/results.json); `--record` also copies them into BENCHMARKS.md.
//
//   node bench/run.js [--only W1,W3] [--reps 5] [--quick] [--record]
//
// Uses the compiled library (dist/, `npm run build`) and bench/'s own dependencies (installed
// with `npm ci` in bench/ when missing).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const benchDir = __dirname;

function ensureDependencies() {
  if (fs.existsSync(path.join(benchDir, 'node_modules', '@tensorflow', 'tfjs'))) return;
  console.error('bench: installing its own dependencies (npm ci in bench/)...');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: benchDir, stdio: 'inherit' });
}

async function main() {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      reps: { type: 'string', default: '5' },
      quick: { type: 'boolean', default: false },
      record: { type: 'boolean', default: false },
    },
  });
  ensureDependencies();

  const { ng, root, machineLine } = require('./lib/context');
  const { measureCase, longTable } = require('./lib/harness');
  const { startPython } = require('./lib/python');
  const { startDirect } = require('./lib/direct');
  const registry = require('./workloads');

  if (ng.backendInfo().name !== 'native') {
    console.error(`bench: the native backend is not available; run \`npm run build\` first.`);
    process.exit(1);
  }
  const only = values.only ? values.only.split(',').map((s) => s.trim().toUpperCase()) : null;
  const workloads = registry.filter((w) => only === null || only.includes(w.id));
  const reps = values.quick ? 2 : Number(values.reps);

  const notes = [];
  if (process.env.OPENBLAS_CORETYPE) {
    notes.push(
      `OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE} was set: OpenBLAS ran that core's ` +
        'kernels, for every peer, instead of the ones it picks for this CPU.',
    );
  }
  // nodegrad's default thread policy: the row every ratio is taken against.
  const defaultThreads = 'auto';
  const python = await startPython(notes);
  const direct = workloads.some((w) => w.needsDirect) ? startDirect(notes) : null;
  const ctx = { ng, python, direct, notes, defaultThreads };

  const started = Date.now();
  const machine = machineLine(python);
  const sections = [`Machine: ${machine}.`];
  console.log(sections[0] + '\n');
  const raw = { machine, date: new Date().toISOString(), workloads: {} };
  for (const w of workloads) {
    const rows = [];
    for (const c of await w.cases(ctx)) {
      const target = (w.target ?? 0.3) / (values.quick ? 4 : 1);
      // A workload may ask for more repetitions (short ones, where the medians need them).
      const workloadReps = values.quick ? reps : Math.max(reps, w.reps ?? 0);
      rows.push(...(await measureCase(c, { reps: workloadReps, target })));
    }
    ng.threads(defaultThreads);
    const text = `### ${w.id}: ${w.title}\n\n${(w.format ?? longTable.bind(null, w))(rows, ctx)}`;
    console.log(text + '\n');
    sections.push(text);
    raw.workloads[w.id] = rows;
  }
  python?.close();
  direct?.close();

  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  const more = values.quick
    ? ''
    : workloads
        .filter((w) => (w.reps ?? 0) > reps)
        .map((w) => ` (${w.id}: ${w.reps})`)
        .join('');
  notes.push(
    `${reps} repetitions per peer${more} after a warm-up, interleaved; ` +
      `"nodegrad ×" is nodegrad-native at its default thread count over the peer ` +
      `(above 1: nodegrad is faster). Run took ${minutes} min.`,
  );
  const noteText = notes.map((n) => `- ${n}`).join('\n');
  console.log(noteText);
  sections.push(noteText);

  const markdown = sections.join('\n\n') + '\n';
  fs.writeFileSync(path.join(benchDir, 'results.md'), markdown);
  fs.mkdirSync(path.join(benchDir, '.cache'), { recursive: true });
  fs.writeFileSync(path.join(benchDir, '.cache', 'results.json'), JSON.stringify(raw, null, 1));
  if (values.record) record(path.join(root, 'BENCHMARKS.md'), markdown);
}

/** Replaces the quoted results in BENCHMARKS.md (between its two markers). */
function record(file, markdown) {
  const begin = '<!-- bench:results:begin -->';
  const end = '<!-- bench:results:end -->';
  const text = fs.readFileSync(file, 'utf8');
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`bench --record: ${file} has no ${begin} block`);
  fs.writeFileSync(file, text.slice(0, from + begin.length) + '\n' + markdown + text.slice(to));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
