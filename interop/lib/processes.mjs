// Child processes of the interop run: servers started on port 0 that announce
// `LISTENING <port>` on stdout, and one-shot programs (clients, the conformance suite) run to
// completion under a deadline. Every child's output goes to a log file in the run directory;
// every server is stopped by its own pid at the end (stdin closed first: the Rust fixtures exit
// on EOF), so a run leaves nothing behind.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';

const servers = [];

/** Starts a server and resolves with its port once it prints `LISTENING <port>`. */
export function startServer({ name, command, args, env, cwd, logDir, deadlineMs = 60_000 }) {
  const log = createWriteStream(join(logDir, `${name}.log`));
  const child = spawn(command, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  servers.push({ name, child });
  child.stderr.pipe(log, { end: false });
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error(`${name}: no "LISTENING <port>" within ${deadlineMs} ms (see ${name}.log)`)),
      deadlineMs,
    );
    child.stdout.on('data', (chunk) => {
      log.write(chunk);
      if (seen === null) return;
      seen += chunk.toString();
      const match = seen.match(/^LISTENING (\d+)$/m);
      if (match) {
        seen = null;
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${name}: cannot start ${command}: ${error.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name}: exited (${signal ?? code}) before listening (see ${name}.log)`));
    });
  });
}

/** Starts a long-running process that announces nothing (the gateway); returns the child. */
export function startDaemon({ name, command, args, env, cwd, logDir }) {
  const log = createWriteStream(join(logDir, `${name}.log`));
  const child = spawn(command, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  servers.push({ name, child });
  return child;
}

/**
 * Runs a program to completion; resolves with its exit code and captured stdout. `onStdout`
 * sees the output as it comes (a program that waits for something it printed, like the
 * conformance suite's authorization URL).
 */
export function runProgram({ name, command, args, env, cwd, logDir, deadlineMs = 180_000, onStdout }) {
  const log = createWriteStream(join(logDir, `${name}.log`));
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk.toString();
      log.write(chunk);
      onStdout?.(stdout);
    });
    child.stderr.pipe(log, { end: false });
    const timer = setTimeout(() => {
      log.write(`\n[interop] ${name}: deadline of ${deadlineMs} ms passed, killing pid ${child.pid}\n`);
      child.kill('SIGKILL');
    }, deadlineMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, error: `cannot start ${command}: ${error.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      log.end();
      resolve({ code: code ?? -1, signal, stdout });
    });
  });
}

/** Stops every server started so far, by pid: stdin closed, then SIGTERM, SIGKILL if it lingers. */
export async function stopAll() {
  await Promise.all(
    servers.splice(0).map(({ child }) => {
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      return new Promise((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.stdin.end();
        child.kill('SIGTERM');
      });
    }),
  );
}
