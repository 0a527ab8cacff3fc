/**
 * `nodegrad doctor`: what the library runs on here, for a bug report or a slow machine. The
 * backend in use and why, the addon file (prebuild or local build), the SIMD level and the
 * levels the CPU has, OpenBLAS's version, core and threads, and Node's and N-API's versions.
 *
 *   nodegrad doctor [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import { Command } from 'commander';

import { backendInfo, threads } from '../backend';
import type { BackendInfo, BlasInfo } from '../backend';

/** Everything `nodegrad doctor` reports; `--json` prints it as it is. */
export interface DoctorReport {
  nodegrad: string;
  backend: BackendInfo;
  /** Threads the native matrix products run on (1 on the reference backend). */
  threads: number;
  /** OpenBLAS's version and how it is linked; absent on the reference backend. */
  blas?: { version: string; corename: string; config: string; linked: string };
  node: { version: string; napi: string };
  platform: { os: string; arch: string; libc: string; cpu: string; cores: number };
}

/**
 * Collects the report (loading the native addon if that has not been tried yet).
 *
 * @example
 * doctorReport().backend.simd; // 'avx2'
 */
export function doctorReport(version: string): DoctorReport {
  const backend = backendInfo();
  const report: DoctorReport = {
    nodegrad: version,
    backend,
    threads: threads(),
    node: { version: process.version, napi: process.versions.napi ?? 'unknown' },
    platform: {
      os: process.platform,
      arch: process.arch,
      libc: libc(),
      cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
      cores: os.availableParallelism?.() ?? os.cpus().length,
    },
  };
  if (backend.blas !== undefined) report.blas = describeBlas(backend.blas);
  return report;
}

/** The report as aligned lines, one fact per line. */
export function formatDoctor(report: DoctorReport): string[] {
  const { backend, node, platform } = report;
  const lines: [string, string][] = [
    ['nodegrad', report.nodegrad],
    ['backend', `${backend.name} (${backend.reason})`],
  ];
  if (backend.nativeFix !== undefined) {
    lines.push(['fix', backend.nativeFix.replace(/^To fix it, /, '')]);
  }
  if (backend.addon !== undefined) {
    lines.push(['addon', `${backend.addon.kind}: ${backend.addon.file}`]);
  }
  if (backend.build !== undefined) {
    lines.push(['built with', `${backend.build.compiler}, N-API ${backend.build.napiVersion}`]);
  }
  if (backend.simd !== undefined) {
    const forced = process.env.NODEGRAD_SIMD ? `, NODEGRAD_SIMD=${process.env.NODEGRAD_SIMD}` : '';
    const has = (backend.simdLevels ?? []).join(', ');
    lines.push(['SIMD', `${backend.simd} (this CPU has ${has}${forced})`]);
  }
  if (report.blas !== undefined) {
    const { version, corename, linked } = report.blas;
    // OpenBLAS obeys OPENBLAS_CORETYPE whatever the CPU has: say so, since a forced core with
    // AVX kernels dies with "Illegal instruction" on a CPU without AVX.
    const core = process.env.OPENBLAS_CORETYPE;
    const forced = core ? ` (OPENBLAS_CORETYPE=${core})` : '';
    lines.push(['BLAS', `${version}, ${corename} kernels${forced}, ${linked}`]);
    lines.push(['BLAS config', report.blas.config]);
  }
  lines.push(['threads', threadsLine(report)]);
  lines.push(['Node', `${node.version}, N-API ${node.napi}`]);
  lines.push([
    'platform',
    `${platform.os}-${platform.arch} ${platform.libc}, ${platform.cpu}, ${platform.cores} cores`,
  ]);
  const width = Math.max(...lines.map(([key]) => key.length)) + 2;
  return lines.map(([key, value]) => `${key.padEnd(width)}${value}`);
}

/** Adds `doctor` to the program; `print` writes one line to stdout. */
export function addDoctorCommand(
  program: Command,
  version: string,
  print: (line?: string) => void,
): void {
  program
    .command('doctor')
    .description('print the backend, addon, SIMD level, BLAS and versions nodegrad runs with')
    .option('--json', 'print the report as JSON')
    .action((flags: { json?: boolean }) => {
      const report = doctorReport(version);
      if (flags.json) print(JSON.stringify(report, null, 2));
      else formatDoctor(report).forEach((line) => print(line));
    });
}

function threadsLine(report: DoctorReport): string {
  if (report.blas === undefined)
    return `${report.threads} (the reference backend is single-threaded)`;
  if (report.backend.blas?.threadPolicy === 'fixed') {
    return `${report.threads} (fixed by threads(n); threads('auto') restores the default)`;
  }
  return `${report.threads} (auto: products below 2^28 multiply-adds on one; threads(n) fixes it)`;
}

/** "OpenBLAS 0.3.21" from the config string, and whether the addon carries it or loads it. */
function describeBlas(blas: BlasInfo): NonNullable<DoctorReport['blas']> {
  const version = /^\S+ [\d.]+/.exec(blas.config)?.[0] ?? blas.config.split(' ', 1)[0];
  return { version, corename: blas.corename, config: blas.config, linked: blasLinkage() };
}

/**
 * Whether OpenBLAS came in with the addon or as a shared library the process mapped, read
 * from the process's own memory map (Linux); elsewhere unknown.
 */
function blasLinkage(): string {
  let maps: string;
  try {
    maps = fs.readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return 'linkage unknown';
  }
  const shared = /\s(\/\S*libopenblas\S*\.so\S*)$/m.exec(maps);
  return shared === null ? 'linked into the addon' : `shared library ${shared[1]}`;
}

function libc(): string {
  if (process.platform !== 'linux') return '';
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } })
    ?.header;
  return header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}` : 'musl';
}
