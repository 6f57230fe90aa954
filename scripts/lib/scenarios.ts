// Scenario results shared across steps: the direct curl scenarios and the gateway scenarios each
// record one JSON line in RUN_DIR/scenarios.jsonl (one line per scenario name: a rerun replaces
// its line), and the summary step prints them as a table.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../../core/files.ts';
import { join } from 'node:path';
import { paint } from '../../core/log.ts';

export interface ScenarioResult {
  /** Short name, e.g. "direct: no CA". */
  scenario: string;
  /** What the tutorial says should happen, e.g. "refused: curl 60". */
  expected: string;
  /** What happened, e.g. "curl 60 (server certificate not trusted)". */
  got: string;
  ok: boolean;
}

const file = (runDir: string) => join(runDir, 'scenarios.jsonl');

/** Records a result; an earlier result of the same scenario is replaced (latest wins, in its place). */
export function recordScenario(runDir: string, result: ScenarioResult): void {
  mkdirSync(runDir, { recursive: true });
  const results = readScenarios(runDir);
  const at = results.findIndex((r) => r.scenario === result.scenario);
  if (at >= 0) results[at] = result;
  else results.push(result);
  writeFileAtomic(file(runDir), results.map((r) => JSON.stringify(r) + '\n').join(''));
}

export function readScenarios(runDir: string): ScenarioResult[] {
  if (!existsSync(file(runDir))) return [];
  return readFileSync(file(runDir), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ScenarioResult);
}

export function clearScenarios(runDir: string): void {
  rmSync(file(runDir), { force: true });
}

/** Renders the results as an aligned table; returns true when every scenario matched. */
export function printScenarioTable(results: ScenarioResult[], write = (s: string) => process.stdout.write(s + '\n')): boolean {
  const rows = results.map((r) => [r.ok ? paint('PASS', 'green') : paint('FAIL', 'red'), r.scenario, r.expected, r.got]);
  const header = ['', 'scenario', 'expected', 'got'];
  const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
  const widths = header.map((h, i) => Math.max(plain(h).length, ...rows.map((r) => plain(r[i] ?? '').length)));
  // The last column is not padded, so lines carry no trailing spaces.
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - plain(c).length))).join('  ');
  write(line(header));
  write(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) write(line(r));
  return results.length > 0 && results.every((r) => r.ok);
}
