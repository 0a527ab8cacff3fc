/**
 * The loader and the binary it loads, seen from fresh processes: the addon carries OpenBLAS
 * (ldd shows none), a missing addon gives one warning with the fix and the reference backend
 * trains, NODEGRAD_SIMD gives the same losses at every level, two worker_threads train at once
 * and the process exits cleanly (also when they are terminated mid-kernel), and `nodegrad
 * doctor` reports what is loaded. tools/check-install.js does the slower checks (npm pack,
 * install without a compiler, OpenBLAS hidden, qemu without AVX, cmake-js).
 */

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { nativeBackend } from '../lib/backend';
import { addonSource } from '../lib/backend/native';
import { main } from '../lib/cli/main';
import type { DoctorReport } from '../lib/cli/doctor';

const root = path.resolve(__dirname, '..');
const probe = path.join(root, 'tools', 'train-probe.js');
const library = path.join(root, 'lib', 'index.ts');
const native = nativeBackend();
const levels: string[] = native?.simdLevels() ?? [];

interface ProbeResult {
  backend: string;
  reason: string;
  addon: { file: string; kind: string } | null;
  simd: string | null;
  losses: number[];
}

interface Run {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Runs `node --import tsx <args>` in the repository with extra environment variables. */
function runNode(args: string[], env: Record<string, string | undefined> = {}): Run {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete childEnv[key];
  const child = spawnSync(process.execPath, ['--import', 'tsx', ...args], {
    cwd: root,
    env: childEnv,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: child.status, signal: child.signal, stdout: child.stdout, stderr: child.stderr };
}

function trainProbe(steps: number, env: Record<string, string | undefined>, workers = 0) {
  const run = runNode([probe, library, String(steps), String(workers)], env);
  const line = run.stdout.split('\n').find((l) => l.startsWith('{') || l.startsWith('['));
  if (run.status !== 0 || line === undefined) {
    throw new Error(`train-probe failed (${run.status ?? run.signal}): ${run.stderr}`);
  }
  return { run, result: JSON.parse(line) as ProbeResult & ProbeResult[] };
}

describe.skipIf(native === null)('the native addon', () => {
  const linksStatic =
    process.platform === 'linux' &&
    / -Wl,--exclude-libs/.test(
      spawnSync(process.execPath, ['tools/openblas-flags.js', 'libs'], {
        cwd: root,
        encoding: 'utf8',
      }).stdout,
    );
  const noArchive = linksStatic ? '' : ' (skipped: no static OpenBLAS archive to link here)';
  it.skipIf(!linksStatic)(`carries OpenBLAS: ldd lists no libopenblas${noArchive}`, () => {
    const file = addonSource()!.file;
    const ldd = spawnSync('ldd', [file], { encoding: 'utf8' });
    expect(ldd.status).toBe(0);
    expect(ldd.stdout).toContain('libc.so');
    expect(ldd.stdout).not.toMatch(/libopenblas|libgfortran/);
  });

  let scalarLosses: number[] | undefined;
  /** The losses of 20 steps with NODEGRAD_SIMD=level, checking the level was honoured. */
  function lossesAt(level: string): number[] {
    const { result } = trainProbe(20, { NODEGRAD_SIMD: level, NODEGRAD_BACKEND: 'native' });
    expect(result.simd).toBe(level);
    return result.losses;
  }

  it('NODEGRAD_SIMD=scalar trains: the loss falls over 20 steps', () => {
    scalarLosses = lossesAt('scalar');
    expect(scalarLosses[19]).toBeLessThan(scalarLosses[0] * 0.9);
  }, 30_000);

  for (const level of ['avx2', 'avx512']) {
    const why = levels.includes(level) ? '' : ` (skipped: this CPU has no ${level})`;
    it.skipIf(!levels.includes(level))(
      `NODEGRAD_SIMD=${level} gives the scalar losses to within float32 rounding${why}`,
      () => {
        const scalar = scalarLosses ?? lossesAt('scalar');
        // The vector kernels sum in another order and fuse multiply-adds.
        lossesAt(level).forEach((loss, step) => expect(loss).toBeCloseTo(scalar[step], 5));
      },
      30_000,
    );
  }

  it('two worker_threads train at the same time; the process then exits with code 0', () => {
    const { run, result } = trainProbe(10, { NODEGRAD_BACKEND: 'native' }, 2);
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    expect(result).toHaveLength(2);
    for (const worker of result) {
      expect(worker.backend).toBe('native');
      expect(worker.losses[9]).toBeLessThan(worker.losses[0]);
    }
    // Same seed, same data: each worker's native state is its own, so the runs agree.
    expect(result[0].losses).toEqual(result[1].losses);
  }, 60_000);

  it('terminating a worker in the middle of training leaves the process running', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodegrad-worker-'));
    const worker = path.join(dir, 'train-forever.js');
    fs.writeFileSync(
      worker,
      `const ng = require(${JSON.stringify(library)});
      const x = ng.randn([64, 64]);
      require('node:worker_threads').parentPort.postMessage('ready');
      for (;;) ng.ops.matmul(x, x).relu().sum().item();`,
    );
    const script = `
      const { Worker } = require('node:worker_threads');
      async function once(delay) {
        const worker = new Worker(${JSON.stringify(worker)});
        await new Promise((resolve) => worker.once('message', resolve));
        await new Promise((resolve) => setTimeout(resolve, delay));
        await worker.terminate();
      }
      (async () => {
        for (let i = 0; i < 12; i++) await once(i % 4);
        console.log('survived');
      })();`;
    try {
      const run = runNode(['-e', script], { NODEGRAD_BACKEND: 'native' });
      expect(run.stderr).not.toContain('terminate called');
      expect(run.stdout.trim()).toBe('survived');
      expect(run.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('a native addon that cannot load', () => {
  const missing = path.join(root, 'build', 'no-such-addon.node');

  it('falls back to the reference backend with one warning: what failed, and the fix', () => {
    const { run, result } = trainProbe(3, {
      NODEGRAD_ADDON: missing,
      NODEGRAD_BACKEND: undefined,
    });
    expect(result.backend).toBe('reference');
    expect(result.losses[2]).toBeLessThan(result.losses[0]);
    const warnings = run.stderr.split('\n').filter((l) => l.includes('Warning:'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('[NODEGRAD_NATIVE_UNAVAILABLE]');
    expect(warnings[0]).toContain(missing);
    expect(warnings[0]).toContain('npm rebuild nodegrad --build-from-source');
    expect(warnings[0]).toContain('NODEGRAD_BACKEND=reference to silence');
  });

  it('NODEGRAD_BACKEND=reference silences it', () => {
    const { run, result } = trainProbe(2, {
      NODEGRAD_ADDON: missing,
      NODEGRAD_BACKEND: 'reference',
    });
    expect(result.backend).toBe('reference');
    expect(run.stderr).toBe('');
  });
});

describe('nodegrad doctor', () => {
  async function doctor(...flags: string[]) {
    let stdout = '';
    let stderr = '';
    const code = await main(['doctor', ...flags], {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
    });
    return { code, stdout, stderr };
  }

  it('--json reports the backend, addon, SIMD, BLAS, threads and versions', async () => {
    const { code, stdout } = await doctor('--json');
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as DoctorReport;
    expect(report.node).toEqual({ version: process.version, napi: process.versions.napi });
    expect(report.platform.arch).toBe(process.arch);
    if (native === null) {
      expect(report.backend.name).toBe('reference');
      return;
    }
    expect(report.backend.name).toBe('native');
    expect(fs.existsSync(report.backend.addon!.file)).toBe(true);
    expect(['prebuild', 'local build', 'NODEGRAD_ADDON']).toContain(report.backend.addon!.kind);
    expect(report.backend.simdLevels).toEqual(levels);
    expect(levels).toContain(report.backend.simd);
    expect(report.backend.build!.napiVersion).toBe(8);
    expect(report.blas!.version).toMatch(/^OpenBLAS \d+\.\d+/);
    expect(report.blas!.corename).toBe(native.blasInfo().corename);
    expect(report.blas!.linked).toBe('linked into the addon');
    expect(report.threads).toBe(native.blasInfo().threads);
  });

  it('prints one aligned line per fact', async () => {
    const { code, stdout, stderr } = await doctor();
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const keys = stdout
      .trim()
      .split('\n')
      .map((line) => line.split(/\s{2,}/, 1)[0]);
    expect(keys).toEqual(expect.arrayContaining(['nodegrad', 'backend', 'threads', 'Node']));
    if (native !== null) {
      expect(keys).toEqual(expect.arrayContaining(['addon', 'SIMD', 'BLAS', 'built with']));
      expect(stdout).toMatch(new RegExp(`SIMD +${native.simd()} \\(this CPU has `));
    }
  });

  it.skipIf(native === null)('says when OPENBLAS_CORETYPE forces the BLAS core', async () => {
    const saved = process.env.OPENBLAS_CORETYPE;
    try {
      process.env.OPENBLAS_CORETYPE = 'Sandybridge';
      expect((await doctor()).stdout).toMatch(/BLAS +.* kernels \(OPENBLAS_CORETYPE=Sandybridge\)/);
      delete process.env.OPENBLAS_CORETYPE;
      expect((await doctor()).stdout).not.toMatch(/OPENBLAS_CORETYPE/);
    } finally {
      if (saved === undefined) delete process.env.OPENBLAS_CORETYPE;
      else process.env.OPENBLAS_CORETYPE = saved;
    }
  });
});

describe('binding.gyp and CMakeLists.txt', () => {
  interface GypTarget {
    target_name: string;
    sources?: string[];
    cflags_cc?: string[];
    conditions?: [string, { sources?: string[]; cflags_cc?: string[] }][];
  }
  // binding.gyp is a Python literal; without its comments it is JSON.
  const gypText = fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, '');
  const gyp = JSON.parse(gypText) as {
    target_defaults: { defines: string[] };
    targets: GypTarget[];
  };
  const cmake = fs.readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8').replace(/#.*$/gm, '');

  /** Each gyp target's sources and own compile flags, conditions included. */
  function gypTarget(name: string) {
    const target = gyp.targets.find((t) => t.target_name === name)!;
    const parts = [target, ...(target.conditions ?? []).map(([, part]) => part)];
    return {
      sources: parts.flatMap((p) => p.sources ?? []),
      flags: parts.flatMap((p) => p.cflags_cc ?? []).filter((f) => !f.startsWith('<!')),
    };
  }

  /** A CMake library's sources, from its add_library(), and its target_compile_options(). */
  function cmakeTarget(name: string) {
    const library = new RegExp(`add_library\\(${name}\\s+(?:STATIC|SHARED)\\s([^)]*)\\)`).exec(
      cmake,
    );
    const options = new RegExp(`target_compile_options\\(${name} PRIVATE ([^)]*)\\)`).exec(cmake);
    return {
      sources: (library?.[1] ?? '').split(/\s+/).filter((s) => s.endsWith('.cc')),
      flags: (options?.[1] ?? '').split(/\s+/).filter(Boolean),
    };
  }

  it('compile the same sources with the same per-file SIMD flags', () => {
    for (const name of ['nodegrad_kernels', 'nodegrad_kernels_avx2', 'nodegrad_kernels_avx512']) {
      expect(cmakeTarget(name), name).toEqual(gypTarget(name));
    }
    expect(cmakeTarget('nodegrad').sources).toEqual(gypTarget('nodegrad').sources);
  });

  it('define the same macros, and neither builds for the compiling machine (-march)', () => {
    const defines = /target_compile_definitions\(nodegrad PRIVATE([^)]*)\)/.exec(cmake)![1];
    const cmakeDefines = defines.split(/\s+/).filter((d) => d && d !== 'BUILDING_NODE_EXTENSION');
    expect(cmakeDefines.sort()).toEqual([...gyp.target_defaults.defines].sort());
    expect(gypText).not.toMatch(/["\s]-march/);
    expect(cmake).not.toMatch(/\s-march/);
  });
});
