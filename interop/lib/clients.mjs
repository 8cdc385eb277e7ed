// The real MCP clients, each run once against one endpoint fronting server-everything: the
// TypeScript SDK and Python SDK programs in clients/ (each prints a JSON summary and exits
// non-zero on any failed call), the TypeScript SDK again declaring sampling, elicitation and
// roots (clients/sdk-server-requests.mjs: the server→client requests), and the Inspector CLI
// (`tools/list`, then `tools/call echo`).
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { runProgram } from './processes.mjs';

function summaryOf(outcome) {
  try {
    const summary = JSON.parse(outcome.stdout);
    const failedSteps = summary.steps.filter((s) => !s.ok).map((s) => `${s.step}: ${s.error}`);
    return { ok: outcome.code === 0 && summary.failed === 0, detail: `${summary.passed} calls ok`, errors: failedSteps };
  } catch {
    return { ok: false, detail: '', errors: [outcome.error ?? `exit ${outcome.signal ?? outcome.code}, no JSON summary`] };
  }
}

async function inspector({ label, url, prefix, token, interopDir, logDir, env }) {
  const launcher = join(interopDir, 'node_modules', '@modelcontextprotocol', 'inspector', 'clients', 'launcher', 'build', 'index.js');
  // The Inspector keeps a catalog and state under $HOME: give it a throwaway one.
  const home = mkdtempSync(join(logDir, 'inspector-home-'));
  const base = ['--cli', url, '--transport', 'http', '--header', `Authorization: Bearer ${token}`, '--format', 'json', '-q'];
  const run = (name, extra) => runProgram({
    name: `inspector-${label}-${name}`,
    command: 'node',
    args: [launcher, ...base, ...extra],
    env: { ...env, HOME: home, MCP_CATALOG_PATH: join(home, 'mcp.json') },
    cwd: interopDir,
    logDir,
    deadlineMs: 120_000,
  });
  const errors = [];
  const list = await run('tools-list', ['--method', 'tools/list']);
  let toolCount = 0;
  try {
    const tools = JSON.parse(list.stdout).result.tools;
    toolCount = tools.length;
    if (!tools.some((tool) => tool.name === `${prefix}echo`)) errors.push(`tools/list: no ${prefix}echo`);
  } catch {
    errors.push(`tools/list: exit ${list.code}, unparsable output`);
  }
  const call = await run('tools-call', ['--method', 'tools/call', '--tool-name', `${prefix}echo`,
    '--tool-arg', 'message=hello from the Inspector']);
  try {
    const text = JSON.parse(call.stdout).result.content.find((c) => c.type === 'text').text;
    if (!text.includes('hello from the Inspector')) errors.push(`tools/call: unexpected text ${text}`);
  } catch {
    errors.push(`tools/call: exit ${call.code}, unparsable output`);
  }
  return { ok: errors.length === 0 && list.code === 0 && call.code === 0, detail: `${toolCount} tools`, errors };
}

/** Runs every client; resolves with Map<client, { ok, detail, errors }>. */
export async function runClients({ label, url, prefix, token, interopDir, python, logDir, env }) {
  const clientEnv = { ...env, MCP_TOKEN: token };
  const args = ['--url', url, '--prefix', prefix];
  const results = new Map();
  const sdk = await runProgram({ name: `sdk-client-${label}`, command: 'node',
    args: [join(interopDir, 'clients', 'sdk-client.mjs'), ...args], env: clientEnv, cwd: interopDir, logDir });
  results.set('typescript-sdk', summaryOf(sdk));
  const serverRequests = await runProgram({ name: `sdk-server-requests-${label}`, command: 'node',
    args: [join(interopDir, 'clients', 'sdk-server-requests.mjs'), ...args], env: clientEnv, cwd: interopDir, logDir });
  results.set('typescript-sdk-server-requests', summaryOf(serverRequests));
  const py = await runProgram({ name: `python-client-${label}`, command: python,
    args: [join(interopDir, 'clients', 'python_client.py'), ...args], env: clientEnv, cwd: interopDir, logDir });
  results.set('python-mcp', summaryOf(py));
  results.set('inspector-cli', await inspector({ label, url, prefix, token, interopDir, logDir, env }));
  return results;
}
