/**
 * The binding survives anything: tools/fuzz-binding.js calls every function the addon exports
 * with random arguments, in a child process so that a crash is a failed test naming the seed
 * and the call that killed it rather than the end of the test run.
 *
 * NODEGRAD_FUZZ_CALLS and NODEGRAD_FUZZ_SEED run more calls or another seed.
 */

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const built = existsSync(join(root, 'build', 'Release', 'nodegrad.node'));
const script = join(root, 'tools', 'fuzz-binding.js');
const calls = Number(process.env.NODEGRAD_FUZZ_CALLS ?? 100_000);
const seed = Number(process.env.NODEGRAD_FUZZ_SEED ?? 1);

interface FuzzReport {
  calls: number;
  kernelCalls: number;
  rejected: number;
  functions: Record<string, { calls: number; ok: number; inferred: boolean }>;
  failures: { index: number; call: string; error: string }[];
}

function fuzz(...extra: string[]) {
  return spawnSync(
    process.execPath,
    [script, '--seed', `${seed}`, '--calls', `${calls}`, ...extra],
    {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 1 << 30,
    },
  );
}

/** After a crash: the same calls again, each printed before it runs; the last one killed it. */
function lastCall(): string {
  const lines = fuzz('--print').stderr.trim().split('\n');
  const calls = lines.filter((line) => /^\d+ \w+\(/.test(line));
  return `${calls.at(-1)}\n${lines.slice(-5).join('\n')}`;
}

describe.skipIf(!built)('binding fuzz', () => {
  it(`survives ${calls} random calls (seed ${seed}), rejecting only with its own errors`, () => {
    const child = fuzz();
    if (child.status !== 0 && child.stdout === '') {
      const how = child.signal ?? `exit code ${child.status}`;
      expect.fail(`the fuzz died (${how}) at seed ${seed}, call:\n${lastCall()}`);
    }
    const report = JSON.parse(child.stdout) as FuzzReport;

    expect(report.failures).toEqual([]);
    expect(child.status).toBe(0);
    expect(report.calls).toBe(calls);

    // Every export was understood from its messages and reached its kernel many times.
    for (const [name, record] of Object.entries(report.functions)) {
      expect(record.inferred, `${name}: parameters inferred`).toBe(true);
      expect(record.ok, `${name}: calls that passed the checks`).toBeGreaterThan(record.calls / 50);
    }
    expect(report.kernelCalls + report.rejected).toBe(calls);
  }, 120_000);

  it('rejects a number argument given as an array whose element getter throws', () => {
    // Rendering the array for the message ran the getter; the binding then threw its own error
    // over the getter's pending exception, which aborted the process (found by the fuzz).
    const program = `
      const addon = require('node-gyp-build')(${JSON.stringify(root)});
      const alpha = [];
      Object.defineProperty(alpha, 0, { get() { throw new Error('getter'); } });
      try {
        addon.affine(new Float32Array(2), alpha, 1, new Float32Array(2), 2);
      } catch (error) {
        console.log(error.constructor.name + ': ' + error.message);
      }`;
    const child = spawnSync(process.execPath, ['-e', program], { encoding: 'utf8' });
    expect(child.signal).toBe(null);
    expect(child.stdout.trim()).toBe(
      'TypeError: affine(alpha): expected a number, received [\u2026]',
    );
  });
});
