// The gateway under test, as a real `authmcp-gateway` process: a generated config naming the
// interop backends, an administrator created through the CLI, `start` on a free loopback port,
// readiness awaited on `/health/ready` (all backends online), and a bearer token from
// `POST /auth/login` for the clients. For the OAuth targets it can add an ordinary user
// (`registerUser`: self-registration, then the admin's one-click grant of every backend), and the
// config lets the gateway fetch Client ID Metadata Documents from loopback http.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startDaemon } from './processes.mjs';

const run = promisify(execFile);
const ADMIN = { username: 'interop-admin', email: 'interop@example.com', password: 'Interop-Pa55word!' };

/** A free loopback port: the gateway takes `--port` and must know its own public URL. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ port: 0, host: '127.0.0.1' }, () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** The TOML the gateway runs with; `backends` is [{ name, url, toolPrefix? }]. */
export function gatewayConfig(dataDir, backends, port) {
  const lines = [
    `data_dir = ${JSON.stringify(dataDir)}`,
    '',
    '[server]',
    '# The URL clients use (unset it would be http://localhost:<port>): the OAuth metadata',
    '# names it as issuer and resource, and OAuth clients check it against the URL they called.',
    `public_url = "http://127.0.0.1:${port}"`,
    '',
    '[auth]',
    '# Fastest bcrypt the policy allows: the run creates one admin and logs in once.',
    'bcrypt_cost = 4',
    '# The OAuth targets create their user through POST /auth/register.',
    'allow_registration = true',
    '',
    '[oauth]',
    '# The CIMD run serves its client metadata document from a loopback http server.',
    'cimd_allow_private = true',
    '',
    '[logging]',
    'level = "info"',
  ];
  for (const backend of backends) {
    lines.push('', '[[backends]]', `name = ${JSON.stringify(backend.name)}`, `url = ${JSON.stringify(backend.url)}`);
    if (backend.toolPrefix !== undefined) lines.push(`tool_prefix = ${JSON.stringify(backend.toolPrefix)}`);
  }
  return `${lines.join('\n')}\n`;
}

async function waitUntilReady(baseUrl, backendCount, child, deadlineMs = 60_000) {
  const deadline = Date.now() + deadlineMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`gateway exited (${child.exitCode}) during start-up (see gateway.log)`);
    try {
      const answer = await fetch(`${baseUrl}/health/ready`);
      const body = await answer.json();
      last = JSON.stringify(body);
      if (answer.ok && body.backends?.online === backendCount) return;
    } catch (error) {
      last = error.message;
    }
    // No event announces "backends online": poll, bounded by the overall deadline.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`gateway not ready with ${backendCount} backends online within ${deadlineMs} ms; last /health/ready: ${last}`);
}

/** Starts the gateway; resolves with { baseUrl, port, token }. */
export async function startGateway({ binary, runDir, logDir, backends }) {
  const dataDir = join(runDir, 'gateway-data');
  const configPath = join(runDir, 'gateway.toml');
  const port = await freePort();
  writeFileSync(configPath, gatewayConfig(dataDir, backends, port));
  // The gateway reads AUTHMCP__* and the original's variables (PORT, DATABASE_URL, …): give it
  // a clean environment so nothing from the caller's shell changes what is tested.
  const env = { PATH: process.env.PATH, HOME: runDir, LANG: 'C.UTF-8' };
  const source = ['--config', configPath, '--data-dir', dataDir];
  await run(binary, ['create-admin', '--username', ADMIN.username, '--email', ADMIN.email,
    '--password', ADMIN.password, ...source], { env, cwd: runDir });
  const child = startDaemon({
    name: 'gateway',
    command: join(dirname(fileURLToPath(import.meta.url)), 'exit-with-stdin.sh'),
    args: [binary, 'start', ...source, '--host', '127.0.0.1', '--port', String(port)],
    env,
    cwd: runDir,
    logDir,
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilReady(baseUrl, backends.length, child);
  const login = await fetch(`${baseUrl}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: ADMIN.username, password: ADMIN.password }),
  });
  if (!login.ok) throw new Error(`POST /auth/login answered ${login.status}: ${await login.text()}`);
  const { access_token: token } = await login.json();
  return { baseUrl, port, token };
}

/**
 * Creates a `user`-role account (POST /auth/register) and gives it every backend with the
 * admin's one-click grant (POST /admin/api/users/{id}/grant-all-backends): without a grant an
 * ordinary user reaches nothing (`default_policy = "deny"`). Resolves with the user's id.
 */
export async function registerUser({ baseUrl, adminToken, username, password }) {
  const created = await fetch(`${baseUrl}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, email: `${username}@example.com`, password }),
  });
  if (created.status !== 201) throw new Error(`POST /auth/register answered ${created.status}: ${await created.text()}`);
  const { id } = await created.json();
  const grant = await fetch(`${baseUrl}/admin/api/users/${id}/grant-all-backends`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}` },
  });
  if (grant.status !== 201) throw new Error(`grant-all-backends answered ${grant.status}: ${await grant.text()}`);
  return id;
}
