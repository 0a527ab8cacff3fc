#!/usr/bin/env node
// Prints the compile or link flags for OpenBLAS, for binding.gyp and CMakeLists.txt alike, so
// that both build systems link it the same way:
//
//   node tools/openblas-flags.js cflags   -> -I/usr/include/x86_64-linux-gnu/openblas-pthread/
//   node tools/openblas-flags.js libs     -> /usr/lib/.../libopenblas.a -Wl,--exclude-libs,ALL ...
//
// On Linux the static archive is linked into the addon when pkg-config's libdir has one
// (Debian's libopenblas-dev does): the binary then runs where OpenBLAS is not installed, and
// --exclude-libs keeps the archives' symbols out of the addon's exports, so another copy of
// OpenBLAS in the same process cannot clash with ours. Elsewhere, or with NODEGRAD_OPENBLAS=
// shared, the shared library is linked as pkg-config says.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const MODULE = 'openblas';

function pkgConfig(...args) {
  try {
    return execFileSync('pkg-config', [...args, MODULE], { encoding: 'utf8' }).trim();
  } catch (error) {
    const reason = error.code === 'ENOENT' ? 'pkg-config is not installed' : error.message;
    throw new Error(
      `nodegrad: cannot find OpenBLAS (${reason.split('\n', 1)[0]}). Install pkg-config and ` +
        'OpenBLAS (Debian/Ubuntu: apt-get install pkg-config libopenblas-dev).',
    );
  }
}

/** The static archive to link, or null when the shared library is to be used. */
function staticArchive() {
  const wanted = process.env.NODEGRAD_OPENBLAS ?? '';
  if (!['', 'static', 'shared'].includes(wanted)) {
    throw new Error(`NODEGRAD_OPENBLAS: expected "static" or "shared", received "${wanted}"`);
  }
  if (wanted === 'shared' || process.platform !== 'linux') return null;
  const archive = path.join(pkgConfig('--variable=libdir'), 'libopenblas.a');
  if (fs.existsSync(archive)) return archive;
  if (wanted === 'static') throw new Error(`NODEGRAD_OPENBLAS=static: no ${archive}`);
  return null;
}

function libs() {
  const archive = staticArchive();
  if (archive === null) return pkgConfig('--libs');
  // OpenBLAS's threads need pthreads and its kernels libm; the BLAS part of Debian's archive
  // calls nothing from libgfortran (only its LAPACK part does, which the addon does not use).
  return `${archive} -Wl,--exclude-libs,ALL -lpthread -lm`;
}

function main(what) {
  if (what === 'cflags') return pkgConfig('--cflags');
  if (what === 'libs') return libs();
  throw new Error(`tools/openblas-flags.js: expected "cflags" or "libs", received "${what}"`);
}

try {
  process.stdout.write(`${main(process.argv[2])}\n`);
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
