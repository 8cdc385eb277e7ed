// Compares an interop run with expected-results.json and prints it: every scenario and client
// of every target (the per-scenario record the issue asks to keep in the test output), then one
// closing `interop: N passed, M failed` line counting expected passes.

/** Classifies each result: regression (expected pass failed), promotion (pending now passes). */
export function judge(targets, expected) {
  const verdict = { passed: 0, regressions: [], promotions: [], unexpected: [] };
  for (const target of targets) {
    const spec = expected[target.group]?.[target.key] ?? { expect_pass: [], pending: [] };
    const pending = new Set([...(spec.pending ?? []), ...(spec.pending_issue_4 ?? [])]);
    for (const name of spec.expect_pass) {
      const result = target.results.get(name);
      if (result?.ok) verdict.passed += 1;
      else verdict.regressions.push(`${target.key} ${name}: ${result ? result.errors.join('; ') || 'failed' : 'did not run'}`);
    }
    for (const [name, result] of target.results) {
      if (spec.expect_pass.includes(name)) continue;
      if (result.ok && pending.has(name)) verdict.promotions.push(`${target.key} ${name}`);
      else if (!pending.has(name)) verdict.unexpected.push(`${target.key} ${name}: ${result.ok ? 'passes' : 'fails'} (not in expected-results.json)`);
    }
    target.placeholder = spec.expect_pass.length === 0;
    // Print in the order expected-results.json lists them (the suite's own order), extras last.
    const listed = [...spec.expect_pass, ...pending];
    const rank = (name) => (listed.includes(name) ? listed.indexOf(name) : listed.length);
    target.results = new Map([...target.results].sort(([a], [b]) => rank(a) - rank(b)));
  }
  return verdict;
}

export function printReport({ targets, verdict, setupError, runDir, seconds }) {
  for (const target of targets) {
    const results = [...target.results];
    const ok = results.filter(([, r]) => r.ok).length;
    const note = target.placeholder ? '  [no expectations yet: placeholder in expected-results.json]' : '';
    console.log(`\n${target.key} (${target.url}): ${ok}/${results.length} pass${note}`);
    for (const [name, result] of results) {
      const counts = result.passed !== undefined
        ? `${result.passed} checks ok${result.warnings ? `, ${result.warnings} warnings` : ''}`
        : result.detail;
      const why = result.ok ? '' : ` — ${result.errors.join('; ')}`;
      console.log(`  ${result.ok ? 'PASS' : 'FAIL'} ${name} (${counts})${why}`);
    }
  }
  if (setupError) console.log(`\ninterop: SETUP FAILED: ${setupError} (logs in ${runDir}/logs)`);
  for (const line of verdict.regressions) console.log(`interop: REGRESSION ${line}`);
  for (const line of verdict.promotions) console.log(`interop: now passes, promote to expect_pass: ${line}`);
  for (const line of verdict.unexpected) console.log(`interop: note: ${line}`);
  const failed = verdict.regressions.length + (setupError ? 1 : 0);
  console.log(`interop: finished in ${seconds.toFixed(1)} s`);
  console.log(`interop: ${verdict.passed} passed, ${failed} failed`);
}
