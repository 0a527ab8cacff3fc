'use strict';
// sgemm_direct (bench/sgemm_direct.cc): OpenBLAS called from C++, built with the project's
// CMakeLists.txt into build/cmake, and kept running to answer timing requests.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { LinePeer } = require('./line-peer');

const root = path.join(__dirname, '..', '..');

/** The running sgemm_direct, or null with a note when it cannot be built. */
function startDirect(notes) {
  const buildDir = path.join(root, 'build', 'cmake');
  try {
    if (!fs.existsSync(path.join(buildDir, 'CMakeCache.txt'))) {
      execFileSync('cmake', ['-S', root, '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release'], {
        stdio: 'ignore',
      });
    }
    execFileSync('cmake', ['--build', buildDir, '--target', 'sgemm_direct'], { stdio: 'ignore' });
  } catch (error) {
    notes.push(`OpenBLAS direct skipped: building bench/sgemm_direct.cc failed (${error.message})`);
    return null;
  }
  const peer = new LinePeer(path.join(buildDir, 'sgemm_direct'));
  /** Seconds for `count` products of the shape on `threads` threads. */
  peer.time = async ({ m, n, k, transA, transB }, threads, count) => {
    const line = [m, n, k, transA ? 1 : 0, transB ? 1 : 0, threads, count].join(' ');
    return (await peer.request(line)).seconds;
  };
  return peer;
}

module.exports = { startDirect };
