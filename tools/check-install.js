#!/usr/bin/env node
// The install checks, slower than the unit tests, that CI runs after `npm test`
// (`npm run test:install`). Each prints one line; the summary line counts them.
//
//   node tools/check-install.js [name ...]     names: pack install hidden qemu source cmake memory
//
// pack     `npm pack` builds the prebuild (prepack); the tarball holds it and no build/; ldd
//          on the prebuild lists no libopenblas.
// install  the tarball installs into a fresh project with compilers, make, cmake, node-gyp,
//          python3 and pkg-config replaced by stubs that record any call and fail; nothing
//          was called, no build/ exists, and a few training steps run on the native prebuild.
// hidden   the same project, in a mount namespace where every directory holding
//          libopenblas is hidden by an empty one (root only): it still trains natively.
// qemu     the same project under `qemu-x86_64 -cpu Westmere` and `-cpu qemu64` (no AVX; the
//          latter the bare x86-64 baseline): the addon loads, sees only the scalar level, and
//          trains to the losses of the scalar kernels here.
// source   `npm rebuild nodegrad --build-from-source` in that project compiles a local build
//          from the tarball's sources, which then loads and trains.
// memory   tools/memory-flat.js on dist/: every MNIST network of the CLI trains 20,000 batches
//          (the perceptron) or 2,000 (the others), then infers as many, and the resident
//          memory after the last batch is at most 5% above that after batch 1,000.
// cmake    cmake-js builds CMakeLists.txt into its own directory; ldd lists no libopenblas,
//          and the native kernel tests pass against that binary (NODEGRAD_ADDON).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const PROBE = path.join(__dirname, 'train-probe.js');
const STUBBED = ['cc', 'gcc', 'g++', 'c++', 'clang', 'clang++', 'make', 'cmake', 'ninja'];
const STUBBED_TOOLS = [...STUBBED, 'node-gyp', 'python3', 'python', 'pkg-config', 'ld'];
/**
 * CPU models without AVX for qemu: a real one (Westmere, SSE4.2 at best), and the x86-64
 * baseline itself (qemu64: SSE2 and SSE3 only). qemu64 is given Intel's vendor string: as
 * AMD's family 15 it makes OpenBLAS pick Opteron kernels that use 3DNow!, which qemu does not
 * emulate (a real Opteron of that family has it).
 */
const QEMU_CPUS = ['Westmere', 'qemu64,vendor=GenuineIntel'];

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nodegrad-install-'));
const app = path.join(work, 'app');
const state = { tarball: null, installed: false };

// ---------------------------------------------------------------------------------------------
// Helpers.

class Skip extends Error {}

function run(command, args, options = {}) {
  const child = spawnSync(command, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 10 * 60 * 1000,
    ...options,
  });
  if (child.error) throw child.error;
  if (child.status !== 0 && !options.allowFailure) {
    const output = `${child.stdout}\n${child.stderr}`.trim().split('\n').slice(-20).join('\n');
    throw new Error(
      `${command} ${args.join(' ')} exited ${child.status ?? child.signal}:\n${output}`,
    );
  }
  return child;
}

/** The environment of a user's shell: none of this project's or npm's own variables. */
function cleanEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('NODEGRAD_') || key.startsWith('npm_')) continue;
    env[key] = value;
  }
  const merged = { ...env, ...extra };
  // An extra variable given as undefined is one the child must not see.
  for (const key of Object.keys(extra)) if (extra[key] === undefined) delete merged[key];
  return merged;
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Runs the training probe in the app (or under a wrapper such as qemu) and parses it. */
function probe(env, wrapper = [], steps = 5) {
  const args = [...wrapper, process.execPath, 'train-probe.js', 'nodegrad', String(steps)];
  const child = run(args[0], args.slice(1), { cwd: app, env: cleanEnv(env) });
  const line = child.stdout.split('\n').find((l) => l.startsWith('{'));
  assert(line !== undefined, `the probe printed no result: ${child.stderr}`);
  return { ...JSON.parse(line), stderr: child.stderr };
}

function assertTrainedNatively(result, kind) {
  assert(result.backend === 'native', `expected the native backend, got ${result.backend}`);
  assert(result.addon?.kind === kind, `expected a ${kind}, loaded ${JSON.stringify(result.addon)}`);
  const { losses } = result;
  assert(losses[losses.length - 1] < losses[0], `the loss did not fall: ${losses.join(', ')}`);
}

/** `ldd` of a binary, failing if it names OpenBLAS or gfortran. */
function lddWithoutOpenblas(file) {
  const out = run('ldd', [file]).stdout.trim();
  assert(!/libopenblas|libgfortran/.test(out), `${file} links a shared OpenBLAS:\n${out}`);
  return out;
}

function requireApp() {
  if (!state.installed) throw new Skip('the install check did not pass');
}

function requireRoot(what) {
  if (process.platform !== 'linux') throw new Skip(`${what} needs Linux`);
  if (process.getuid() !== 0) throw new Skip(`${what} needs root (mount namespaces)`);
}

// ---------------------------------------------------------------------------------------------
// The checks.

function pack() {
  const child = run('npm', ['pack', '--json', '--pack-destination', work], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The prepack build writes to stdout too; the JSON report is the last thing npm prints.
  const report = JSON.parse(child.stdout.slice(child.stdout.lastIndexOf('\n[') + 1))[0];
  const files = report.files.map((f) => f.path);
  const prebuild = files.find((f) => /^prebuilds\/linux-x64\/.*\.node$/.test(f));
  assert(prebuild !== undefined, `no prebuilds/linux-x64/*.node in ${files.join(' ')}`);
  for (const needed of ['dist/index.js', 'binding.gyp', 'tools/openblas-flags.js']) {
    assert(files.includes(needed), `the tarball lacks ${needed}`);
  }
  const stray = files.filter((f) => /^(build|test|node_modules)\//.test(f));
  assert(stray.length === 0, `the tarball holds ${stray.join(' ')}`);
  state.tarball = path.join(work, report.filename);

  const ldd = lddWithoutOpenblas(path.join(ROOT, prebuild));
  const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;
  return [
    `${report.filename}: ${mb(report.size)} packed, ${mb(report.unpackedSize)} unpacked, ` +
      `${report.entryCount} files`,
    `ldd ${prebuild}:\n${ldd.replace(/^\s*/gm, '    ')}`,
  ].join('\n  ');
}

function install() {
  if (state.tarball === null) throw new Skip('the pack check did not pass');
  const stubs = path.join(work, 'stubs');
  const calls = path.join(work, 'stub-calls.log');
  fs.mkdirSync(stubs);
  for (const tool of STUBBED_TOOLS) {
    const stub = `#!/bin/sh\necho "${tool} $*" >> "${calls}"\nexit 127\n`;
    fs.writeFileSync(path.join(stubs, tool), stub, { mode: 0o755 });
  }
  fs.mkdirSync(app);
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'install-check', version: '1.0.0', private: true }),
  );
  fs.copyFileSync(PROBE, path.join(app, 'train-probe.js'));

  const noCompiler = { PATH: `${stubs}${path.delimiter}${process.env.PATH}` };
  run('npm', ['install', state.tarball, '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: app,
    env: cleanEnv(noCompiler),
  });
  const called = fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim() : '';
  assert(called === '', `the install ran build tools:\n${called}`);
  const build = path.join(app, 'node_modules', 'nodegrad', 'build');
  assert(!fs.existsSync(build), `the install made ${build}`);

  const result = probe({ ...noCompiler, NODEGRAD_BACKEND: 'native' });
  assertTrainedNatively(result, 'prebuild');
  state.installed = true;
  const doctor = run(process.execPath, ['node_modules/.bin/nodegrad', 'doctor'], {
    cwd: app,
    env: cleanEnv(),
  }).stdout;
  return (
    `no build tool called, no build/; trained on ${result.addon.file} ` +
    `(${result.simd}, losses ${result.losses.map((l) => l.toFixed(4)).join(' ')})\n` +
    `  nodegrad doctor:\n${doctor.trimEnd().replace(/^/gm, '    ')}`
  );
}

/** Every directory the dynamic linker could find libopenblas in. */
function openblasDirs() {
  const found = run('ldconfig', ['-p'])
    .stdout.split('\n')
    .filter((l) => /libopenblas/.test(l));
  const dirs = new Set();
  for (const line of found) {
    const file = line.split('=>')[1]?.trim();
    if (file) dirs.add(path.dirname(fs.realpathSync(file)));
  }
  return [...dirs];
}

function hidden() {
  requireApp();
  requireRoot('hiding OpenBLAS');
  const dirs = openblasDirs();
  if (dirs.length === 0) throw new Skip('OpenBLAS is not installed here, so nothing to hide');
  const empty = fs.mkdtempSync(path.join(work, 'empty-'));
  // The control: in the namespace, dlopen of the shared OpenBLAS must fail.
  const control =
    "try { process.dlopen({ exports: {} }, 'libopenblas.so.0'); process.exit(3); } " +
    'catch (e) { if (!/cannot open shared object/.test(e.message)) throw e; }';
  const script = [
    'set -e',
    ...dirs.map((d) => `mount --bind '${empty}' '${d}'`),
    `'${process.execPath}' -e "${control}"`,
    `exec '${process.execPath}' train-probe.js nodegrad 5`,
  ].join('\n');
  const child = run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
    cwd: app,
    env: cleanEnv({ NODEGRAD_BACKEND: 'native' }),
  });
  const result = JSON.parse(child.stdout.split('\n').find((l) => l.startsWith('{')));
  assertTrainedNatively(result, 'prebuild');
  return `with ${dirs.join(', ')} hidden (dlopen of libopenblas.so.0 failed): trained natively`;
}

function qemu() {
  requireApp();
  if (process.arch !== 'x64') throw new Skip('qemu-x86_64 runs x86-64 code only');
  const found = spawnSync('qemu-x86_64', ['-version'], { encoding: 'utf8' });
  if (found.error) {
    const reason = 'qemu-x86_64 is not installed (apt-get install qemu-user)';
    if (process.env.CI) throw new Error(reason);
    throw new Skip(reason);
  }
  const steps = 3;
  const here = probe({ NODEGRAD_BACKEND: 'native', NODEGRAD_SIMD: 'scalar' }, [], steps);
  const lines = [found.stdout.split('\n', 1)[0]];
  for (const cpu of QEMU_CPUS) {
    const wrapper = ['qemu-x86_64', '-cpu', cpu];
    // OPENBLAS_CORETYPE (some machines export Haswell) forces OpenBLAS's core whatever the CPU
    // has, and so AVX kernels on a CPU without AVX: the emulated CPU must choose for itself.
    const emulated = probe(
      { NODEGRAD_BACKEND: 'native', OPENBLAS_CORETYPE: undefined },
      wrapper,
      steps,
    );
    assertTrainedNatively(emulated, 'prebuild');
    const levels = JSON.stringify(emulated.simdLevels);
    assert(levels === '["scalar"]', `under ${cpu} the addon saw SIMD levels ${levels}`);
    emulated.losses.forEach((loss, i) => {
      const diff = Math.abs(loss - here.losses[i]);
      assert(diff < 1e-5, `${cpu}, step ${i}: loss ${loss} under qemu, ${here.losses[i]} here`);
    });
    lines.push(
      `-cpu ${cpu}: SIMD levels ${levels}, kernels ${emulated.simd}, OpenBLAS core ` +
        `${emulated.blasCore}, losses ${emulated.losses.map((l) => l.toFixed(6)).join(' ')}`,
    );
  }
  lines.push(
    `here, NODEGRAD_SIMD=scalar: losses ${here.losses.map((l) => l.toFixed(6)).join(' ')}`,
  );
  return lines.join('\n  ');
}

function source() {
  requireApp();
  run('npm', ['rebuild', 'nodegrad', '--build-from-source'], { cwd: app, env: cleanEnv() });
  const built = path.join(app, 'node_modules', 'nodegrad', 'build', 'Release', 'nodegrad.node');
  assert(fs.existsSync(built), `npm rebuild --build-from-source made no ${built}`);
  lddWithoutOpenblas(built);
  const result = probe({ NODEGRAD_BACKEND: 'native' });
  assertTrainedNatively(result, 'local build');
  return `built ${built} from the tarball's sources; it loads and trains`;
}

function cmake() {
  const out = path.join(work, 'cmake-js');
  // Through npm, which hands cmake-js its nodedir setting (Node's headers) as it does node-gyp.
  run('npm', ['exec', '--', 'cmake-js', 'build', '--out', out], { cwd: ROOT, env: cleanEnv() });
  const addon = path.join(out, 'Release', 'nodegrad.node');
  assert(fs.existsSync(addon), `cmake-js made no ${addon}`);
  lddWithoutOpenblas(addon);
  const vitest = path.join(ROOT, 'node_modules', '.bin', 'vitest');
  const tests = [
    'test/kernels.test.ts',
    'test/native-kernels.test.ts',
    'test/layer-kernels.test.ts',
  ];
  // The tests of the native kernels (every kernel against the reference, at every SIMD level);
  // the reference backend's own tests do not depend on the binary.
  const child = run(vitest, ['run', ...tests, '-t', 'native'], {
    cwd: ROOT,
    env: cleanEnv({ NODEGRAD_ADDON: addon }),
  });
  const summary = child.stdout.split('\n').find((l) => /Tests\s/.test(l)) ?? '';
  // vitest colours its summary line; quote it as plain text.
  const plain = summary.replace(/\u001b\[[0-9;]*m/g, '').trim();
  return `${addon}: ldd lists no libopenblas; kernel tests against it: ${plain}`;
}

/** Memory stays flat in long training and inference runs (tools/memory-flat.js). */
function memory() {
  const script = path.join(__dirname, 'memory-flat.js');
  const child = run(process.execPath, [script], { cwd: ROOT, env: cleanEnv(), allowFailure: true });
  const lines = child.stderr.trim().split('\n');
  assert(
    child.status === 0,
    `memory-flat exited ${child.status ?? child.signal}:\n${lines.join('\n')}`,
  );
  return lines.join('\n  ');
}

// ---------------------------------------------------------------------------------------------
// The run.

const CHECKS = { pack, install, hidden, qemu, source, cmake, memory };

function main(names) {
  const unknown = names.filter((n) => !(n in CHECKS));
  if (unknown.length > 0) {
    throw new Error(
      `expected check names among ${Object.keys(CHECKS).join(', ')}, received ${unknown}`,
    );
  }
  const chosen = names.length > 0 ? names : Object.keys(CHECKS);
  const standalone = ['pack', 'cmake', 'memory'];
  if (chosen.some((n) => !standalone.includes(n)) && !chosen.includes('pack')) {
    chosen.unshift('pack', 'install');
  }
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for (const name of new Set(chosen)) {
    const started = Date.now();
    try {
      const detail = CHECKS[name]();
      counts.passed++;
      console.log(`ok   ${name} (${seconds(started)}): ${detail}`);
    } catch (error) {
      if (error instanceof Skip) {
        counts.skipped++;
        console.log(`skip ${name}: ${error.message}`);
      } else {
        counts.failed++;
        console.log(`FAIL ${name} (${seconds(started)}): ${error.message}`);
      }
    }
  }
  const line = `${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`;
  console.log(`install checks: ${line}`);
  if (process.env.NODEGRAD_CHECK_REPORT) {
    fs.writeFileSync(process.env.NODEGRAD_CHECK_REPORT, JSON.stringify(counts));
  }
  return counts.failed === 0 ? 0 : 1;
}

function seconds(started) {
  return `${((Date.now() - started) / 1000).toFixed(0)} s`;
}

try {
  process.exitCode = main(process.argv.slice(2));
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
