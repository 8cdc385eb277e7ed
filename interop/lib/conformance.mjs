// Runs `conformance server --suite active` against one URL and reads its per-scenario
// `checks.json` files: a scenario passes when it ran at least one check and none failed
// (warnings are reported, as the suite itself does, but do not fail it).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runProgram } from './processes.mjs';

const SCENARIO_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/;

/** Resolves with Map<scenario, { ok, passed, failed, warnings, errors }>. */
export async function runConformance({ label, url, interopDir, outputDir, logDir, env }) {
  const cli = join(interopDir, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
  const outcome = await runProgram({
    name: `conformance-${label}`,
    command: 'node',
    args: [cli, 'server', '--url', url, '--suite', 'active', '-o', outputDir],
    env,
    cwd: interopDir,
    logDir,
    deadlineMs: 300_000,
  });
  const results = new Map();
  let entries = [];
  try {
    entries = readdirSync(outputDir);
  } catch {
    // No output directory: the suite crashed before its first scenario; every one counts as failed.
  }
  for (const entry of entries) {
    const match = entry.match(SCENARIO_DIR);
    if (!match) continue;
    let checks = [];
    try {
      checks = JSON.parse(readFileSync(join(outputDir, entry, 'checks.json'), 'utf8'));
    } catch (error) {
      checks = [{ status: 'FAILURE', errorMessage: `unreadable checks.json: ${error.message}` }];
    }
    const count = (status) => checks.filter((check) => check.status === status).length;
    const errors = checks.filter((check) => check.status === 'FAILURE').map((check) => check.errorMessage ?? check.id);
    const passed = count('SUCCESS');
    const failed = count('FAILURE');
    results.set(match[1], { ok: failed === 0 && passed > 0, passed, failed, warnings: count('WARNING'), errors });
  }
  return { results, exitCode: outcome.code };
}
