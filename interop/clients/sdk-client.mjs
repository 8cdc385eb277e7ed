// The TypeScript SDK client (@modelcontextprotocol/sdk 1.32.2) against one Streamable HTTP
// endpoint fronting @modelcontextprotocol/server-everything: the calls every MCP client makes,
// each checked against what server-everything answers. Prints a JSON summary on stdout and
// exits non-zero when any step fails, so the harness can tell which call broke.
//
//   node sdk-client.mjs --url http://127.0.0.1:PORT/mcp [--prefix everything_]
//   env MCP_TOKEN: sent as "Authorization: Bearer <token>" on every request.
//
// --prefix is the gateway's tool_prefix for the backend when the URL is the aggregated /mcp
// (tool and prompt names carry it there); empty for /mcp/<name> and for a direct connection.
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const { values: options } = parseArgs({
  options: { url: { type: 'string' }, prefix: { type: 'string', default: '' } },
});
if (!options.url) {
  console.error('usage: sdk-client.mjs --url URL [--prefix PREFIX]  (env MCP_TOKEN)');
  process.exit(2);
}
const prefix = options.prefix;
const headers = process.env.MCP_TOKEN ? { Authorization: `Bearer ${process.env.MCP_TOKEN}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(options.url), { requestInit: { headers } });
const client = new Client({ name: 'authmcp-interop-sdk-client', version: '1.0.0' }, { capabilities: {} });

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

await step('initialize', async () => {
  await client.connect(transport);
  const server = client.getServerVersion();
  expect(transport.sessionId, 'no Mcp-Session-Id issued');
  return { server: server?.name, protocolVersion: transport.protocolVersion };
});
const connected = steps[0].ok;
if (connected) {
  await step('tools/list', async () => {
    const { tools } = await client.listTools();
    expect(tools.some((t) => t.name === `${prefix}echo`), `no ${prefix}echo tool`);
    return { count: tools.length };
  });
  await step('tools/call', async () => {
    const result = await client.callTool({ name: `${prefix}echo`, arguments: { message: 'hello from the TypeScript SDK' } });
    const text = result.content?.find((c) => c.type === 'text')?.text ?? '';
    expect(!result.isError && text.includes('hello from the TypeScript SDK'), `unexpected echo result ${JSON.stringify(result)}`);
    return { text };
  });
  let firstResource;
  await step('resources/list', async () => {
    const { resources } = await client.listResources();
    firstResource = resources.find((r) => r.uri.startsWith('demo://'));
    expect(firstResource, 'no demo:// resource listed');
    return { count: resources.length };
  });
  await step('resources/read', async () => {
    expect(firstResource, 'nothing to read (resources/list failed)');
    const { contents } = await client.readResource({ uri: firstResource.uri });
    expect(contents.length > 0 && contents[0].uri === firstResource.uri, 'empty or foreign contents');
    return { uri: firstResource.uri };
  });
  await step('prompts/list', async () => {
    const { prompts } = await client.listPrompts();
    expect(prompts.some((p) => p.name === `${prefix}simple-prompt`), `no ${prefix}simple-prompt`);
    return { count: prompts.length };
  });
  await step('prompts/get', async () => {
    const { messages } = await client.getPrompt({ name: `${prefix}simple-prompt` });
    expect(messages.length > 0, 'no messages');
    return { messages: messages.length };
  });
  await step('completion/complete', async () => {
    const { completion } = await client.complete({
      ref: { type: 'ref/prompt', name: `${prefix}completable-prompt` },
      argument: { name: 'department', value: 'Eng' },
    });
    expect(completion.values.includes('Engineering'), `values ${JSON.stringify(completion.values)}`);
    return { values: completion.values };
  });
  await step('ping', async () => {
    await client.ping();
    return {};
  });
  await step('DELETE session', async () => {
    const sessionId = transport.sessionId;
    await transport.terminateSession();
    expect(transport.sessionId === undefined, 'session id kept after DELETE');
    return { terminated: sessionId };
  });
}
await client.close().catch(() => {});

const failed = steps.filter((s) => !s.ok).length;
console.log(JSON.stringify({ client: 'typescript-sdk@1.32.2', url: options.url, passed: steps.length - failed, failed, steps }, null, 2));
process.exit(failed === 0 ? 0 : 1);
