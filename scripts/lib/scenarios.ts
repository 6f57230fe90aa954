// Scenario results shared across steps: the direct curl scenarios and the gateway scenarios each
// append one JSON line to RUN_DIR/scenarios.jsonl, and the summary step prints them as a table.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
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

export function recordScenario(runDir: string, result: ScenarioResult): void {
  mkdirSync(runDir, { recursive: true });
  appendFileSync(file(runDir), JSON.stringify(result) + '\n');
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
