'use strict';
// The PyTorch and numpy peers: Debian's /usr/bin/python3 (python3-torch, python3-numpy; a pyenv
// python3 has neither) running peers/python_peer.py, asked for one repetition at a time.

const fs = require('node:fs');
const path = require('node:path');
const { LinePeer } = require('./line-peer');

const PYTHON = '/usr/bin/python3';

/**
 * The python peer with `info` ({ torch, numpy, blas } as python_peer.py's hello reports), or
 * null with a note in `notes` when python or numpy is missing. PyTorch alone missing leaves
 * numpy running, with a note.
 */
async function startPython(notes) {
  if (!fs.existsSync(PYTHON)) {
    notes.push(`PyTorch and numpy skipped: ${PYTHON} not found.`);
    return null;
  }
  const peer = new LinePeer(PYTHON, [path.join(__dirname, '..', 'peers', 'python_peer.py')]);
  let hello;
  try {
    hello = await peer.request(JSON.stringify({ cmd: 'hello' }));
  } catch (error) {
    notes.push(`PyTorch and numpy skipped: ${error.message}`);
    peer.close();
    return null;
  }
  if (!hello.torch) notes.push('PyTorch skipped: python3-torch is not installed.');
  if (!hello.numpy) {
    notes.push('PyTorch and numpy skipped: python3-numpy is not installed.');
    peer.close();
    return null;
  }
  peer.info = hello;
  /** Seconds for `count` units of a workload on torch or numpy. */
  peer.time = async (workload, name, threads, count, params) => {
    const message = { cmd: 'run', workload, peer: name, threads, count, params };
    return (await peer.request(JSON.stringify(message))).seconds;
  };
  return peer;
}

module.exports = { startPython };
