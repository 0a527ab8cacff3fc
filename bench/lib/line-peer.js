'use strict';
// A long-lived child process that answers one JSON line per request line: the python peer and
// sgemm_direct both work this way, so their repetitions can interleave with nodegrad's in one
// run (a fresh process per repetition would pay python's start-up and warm-up every time).

const { spawn } = require('node:child_process');
const readline = require('node:readline');

class LinePeer {
  constructor(command, args = []) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.waiting = [];
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      const next = this.waiting.shift();
      if (next) next.settle(line);
    });
    const fail = (why) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`${command}: ${why}`));
    };
    this.child.on('error', (error) => fail(error.message));
    this.child.on('exit', (code) => fail(`exited with code ${code}`));
  }

  /** Sends one line; resolves with the parsed answer, rejects with its `error`. */
  request(line) {
    return new Promise((resolve, reject) => {
      const settle = (text) => {
        let answer;
        try {
          answer = JSON.parse(text);
        } catch {
          reject(new Error(`expected a JSON answer, received ${JSON.stringify(text)}`));
          return;
        }
        if (answer.error) reject(new Error(answer.error));
        else resolve(answer);
      };
      this.waiting.push({ settle, reject });
      this.child.stdin.write(line + '\n');
    });
  }

  close() {
    this.child.stdin.end();
  }
}

module.exports = { LinePeer };
