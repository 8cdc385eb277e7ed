// The TypeScript SDK client (@modelcontextprotocol/sdk 1.32.2) declaring the sampling,
// elicitation and roots capabilities, against one Streamable HTTP endpoint fronting
// @modelcontextprotocol/server-everything: it calls the three tools that send requests back to
// the client (trigger-sampling-request, trigger-elicitation-request, get-roots-list), answers
// each with fixed values, and checks that the values came back in the tool result — so a pass
// means the server→client request reached this client and its answer reached the server.
// server-everything registers these tools only for a client that declared the capability.
// Prints a JSON summary on stdout and exits non-zero when any step fails.
//
//   node sdk-server-requests.mjs --url http://127.0.0.1:PORT/mcp [--prefix everything_]
//   env MCP_TOKEN: sent as "Authorization: Bearer <token>" on every request.
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';

const { values: options } = parseArgs({
  options: { url: { type: 'string' }, prefix: { type: 'string', default: '' } },
});
if (!options.url) {
  console.error('usage: sdk-server-requests.mjs --url URL [--prefix PREFIX]  (env MCP_TOKEN)');
  process.exit(2);
}
const prefix = options.prefix;
const headers = process.env.MCP_TOKEN ? { Authorization: `Bearer ${process.env.MCP_TOKEN}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(options.url), { requestInit: { headers } });
const client = new Client(
  { name: 'authmcp-interop-sdk-server-requests', version: '1.0.0' },
  { capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } } },
);

// The fixed answers; each must show up in the matching tool's result.
const SAMPLED_TEXT = 'fixed sampling answer from the interop client';
const ELICITED_NAME = 'Interop Tester';
const ROOT_URI = 'file:///interop/fixed-root';
const seen = { sampling: 0, elicitation: 0, roots: 0 };
client.setRequestHandler(CreateMessageRequestSchema, async () => {
  seen.sampling += 1;
  return { model: 'interop-fixed-model', role: 'assistant', content: { type: 'text', text: SAMPLED_TEXT } };
});
client.setRequestHandler(ElicitRequestSchema, async () => {
  seen.elicitation += 1;
  return { action: 'accept', content: { name: ELICITED_NAME, check: true, integer: 7 } };
});
client.setRequestHandler(ListRootsRequestSchema, async () => {
  seen.roots += 1;
  return { roots: [{ uri: ROOT_URI, name: 'interop-fixed-root' }] };
});

const steps = [];
async function step(name, run) {
  try {
    const detail = await run();
    steps.push({ step: name, ok: true, detail });
  } catch (error) {
    steps.push({ step: name, ok: false, error: error instanceof Error ? error.message : String(error) });
  }
}
function expect(condition, message) {
  if (!condition) throw new Error(message);
}
function textOf(result) {
  return (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}
async function callExpecting(tool, args, needle) {
  const result = await client.callTool({ name: `${prefix}${tool}`, arguments: args });
  const text = textOf(result);
  expect(!result.isError, `tool error: ${text.slice(0, 300)}`);
  expect(text.includes(needle), `result lacks ${JSON.stringify(needle)}: ${text.slice(0, 300)}`);
  return { handled: { ...seen } };
}

const TOOLS = ['trigger-sampling-request', 'trigger-elicitation-request', 'get-roots-list'];
await step('initialize', async () => {
  await client.connect(transport);
  expect(transport.sessionId, 'no Mcp-Session-Id issued');
  return { server: client.getServerVersion()?.name, protocolVersion: transport.protocolVersion };
});
if (steps[0].ok) {
  await step('tools/list (capability tools)', async () => {
    const { tools } = await client.listTools();
    const missing = TOOLS.filter((t) => !tools.some((listed) => listed.name === `${prefix}${t}`));
    expect(missing.length === 0, `not listed: ${missing.map((t) => prefix + t).join(', ')}`);
    return { count: tools.length };
  });
  await step('sampling (trigger-sampling-request)', () =>
    callExpecting('trigger-sampling-request', { prompt: 'interop', maxTokens: 16 }, SAMPLED_TEXT));
  await step('elicitation (trigger-elicitation-request)', () =>
    callExpecting('trigger-elicitation-request', {}, ELICITED_NAME));
  await step('roots (get-roots-list)', () => callExpecting('get-roots-list', {}, ROOT_URI));
  await step('DELETE session', async () => {
    await transport.terminateSession();
    expect(transport.sessionId === undefined, 'session id kept after DELETE');
    return {};
  });
}
await client.close().catch(() => {});

const failed = steps.filter((s) => !s.ok).length;
console.log(JSON.stringify({
  client: 'typescript-sdk@1.32.2 (sampling, elicitation, roots)', url: options.url,
  passed: steps.length - failed, failed, handled: seen, steps,
}, null, 2));
process.exit(failed === 0 ? 0 : 1);
