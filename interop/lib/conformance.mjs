// Runs `conformance server --suite active` (0.1.16) — or one scenario of the 0.2.0-alpha.12
// suite, installed as the npm alias `conformance-next` — against one URL and reads its
// per-scenario `checks.json` files: a scenario passes when it ran at least one check and none
// failed (warnings are reported, as the suite itself does, but do not fail it).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runProgram } from './processes.mjs';

/** The suite's entry point: `conformance` is 0.1.16, `conformance-next` 0.2.0-alpha.12. */
export function conformanceCli(interopDir, suite = 'conformance') {
  const path = suite === 'conformance' ? ['@modelcontextprotocol', 'conformance'] : [suite];
  return join(interopDir, 'node_modules', ...path, 'dist', 'index.js');
}

/**
 * Resolves with Map<scenario, …> as readResults does. `scenario` runs that one scenario of
 * `suite` instead of the active suite.
 */
export async function runConformance({ label, url, interopDir, outputDir, logDir, env, suite = 'conformance', scenario }) {
  const selection = scenario ? ['--scenario', scenario] : ['--suite', 'active'];
  const outcome = await runProgram({
    name: `conformance-${label}`,
    command: 'node',
    args: [conformanceCli(interopDir, suite), 'server', '--url', url, ...selection, '-o', outputDir],
    env,
    cwd: interopDir,
    logDir,
    deadlineMs: 300_000,
  });
  return { results: readResults(outputDir, 'server'), exitCode: outcome.code };
}

/**
 * The suite's `<kind>-<scenario>-<timestamp>/checks.json` files under `outputDir` (kind:
 * `server`, or `authorization-server` for the authorization mode) as
 * Map<scenario, { ok, passed, failed, warnings, errors }>.
 */
export function readResults(outputDir, kind) {
  const scenarioDir = new RegExp(`^${kind}-(.+)-\\d{4}-\\d{2}-\\d{2}T[\\d-]+Z$`);
  const results = new Map();
  let entries = [];
  try {
    entries = readdirSync(outputDir);
  } catch {
    // No output directory: the suite crashed before its first scenario; every one counts as failed.
  }
  for (const entry of entries) {
    const match = entry.match(scenarioDir);
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
  return results;
}
