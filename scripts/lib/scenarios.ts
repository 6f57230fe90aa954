// Scenario results shared across steps: the direct curl scenarios (step 21, run and explained by
// DirectScenarios) and the gateway scenarios each record one JSON line in RUN_DIR/scenarios.jsonl
// (one line per scenario name: a rerun replaces its line), and the summary step prints them as a table.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../core/files.ts';
import type { Config } from '../../core/config.ts';
import { StepError } from '../../core/errors.ts';
import { displayPath, log, paint } from '../../core/log.ts';
import type { ProcessPromise } from './shell.ts';
import { unresolvedHost } from './tcp.ts';
import { RUN_SETTINGS, followUp } from './follow-up.ts';

interface ScenarioResult {
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
  return readFileSync(file(runDir), 'utf8').split('\n').flatMap((line, i) => {
    if (line.trim() === '') return [];
    try {
      const result = JSON.parse(line) as ScenarioResult;
      if (typeof result.scenario === 'string' && typeof result.ok === 'boolean') return [result];
    } catch {
      // reported below
    }
    throw new StepError(`${displayPath(file(runDir))} line ${i + 1} is not a scenario record; start again with ${followUp('./scripts/90-summary.ts --clear', RUN_SETTINGS)}`);
  });
}

/** Removes the results of the named scenarios (a step that stopped before running them). */
export function forgetScenarios(runDir: string, names: readonly string[]): void {
  const results = readScenarios(runDir);
  const kept = results.filter((r) => !names.includes(r.scenario));
  if (kept.length < results.length) writeFileAtomic(file(runDir), kept.map((r) => JSON.stringify(r) + '\n').join(''));
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

/** What each curl exit code means in the direct scenarios (one sentence each). */
const CURL_CLASSES: Record<number, string> = {
  0: 'both sides verified each other and the backend answered',
  7: 'nothing accepted the TCP connection (is the backend running?)',
  35: 'the TLS handshake failed: the server sent an alert during the handshake because the client certificate was missing or unacceptable',
  52: 'the handshake completed but the server closed the connection without answering: Node checks the client certificate right after the handshake and drops the connection when it is not trusted',
  56: 'the server refused the client with a TLS alert that curl read after sending its request (TLS 1.3 finishes the client side of the handshake before the server judges the client certificate)',
  58: 'curl could not use the client certificate or key files',
  60: 'curl could not verify the server certificate against its CA bundle, so it stopped before any client certificate mattered',
};

/** `--tls-max 1.2|1.3` from the command line, or undefined. */
export function tlsMaxOption(value: string | boolean | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^1\.[23]$/.test(value)) throw new StepError('--tls-max takes 1.2 or 1.3');
  return value;
}

interface Expectation {
  /** What the tutorial shows, in one line. */
  tutorial: string;
  /** curl exit codes that match the tutorial. */
  codes: number[];
  /** Text the answer must contain (with `-w ' HTTP %{http_code}'`: HTTP 200 is checked too). */
  body?: string;
}

/**
 * The direct curl scenarios of step 21: each is run, explained (tutorial / got / why) and recorded
 * for the summary table; results of an earlier run of the step are dropped first.
 */
export class DirectScenarios {
  private static readonly PREFIX = 'direct: ';
  private readonly results: ScenarioResult[] = [];
  /** Scenarios shown so far (also in DRY_RUN, where none is recorded). */
  private shown = 0;

  constructor(private readonly config: Config, private readonly suffix = '') {
    if (config.dryRun) return;
    if (!existsSync(config.pki.certsDir)) throw new StepError(`${displayPath(config.pki.certsDir)} does not exist: make the certificates first (${followUp('make certs')})`);
    const others = readScenarios(config.runDir).filter((r) => !r.scenario.startsWith(DirectScenarios.PREFIX));
    clearScenarios(config.runDir);
    for (const r of others) recordScenario(config.runDir, r);
  }

  async check(name: string, want: Expectation, curl: () => ProcessPromise): Promise<void> {
    log.info('');
    log.info(`${++this.shown}. ${name}`);
    const r = await curl();
    if (this.config.dryRun) return;
    const code = r.exitCode ?? 1;
    if (code === 6) {
      // The name does not resolve: every scenario would fail the same way, none says anything about TLS.
      recordScenario(this.config.runDir, { scenario: `${DirectScenarios.PREFIX}backend name resolves${this.suffix}`, expected: `${this.config.pki.serverHost} resolves`, got: 'curl 6: could not resolve host', ok: false });
      throw new StepError(unresolvedHost(this.config.pki.serverHost, 'curl 6'));
    }
    if (code === 7) {
      // The earlier run's rows are gone: the summary shows this failure, not "nothing recorded".
      const where = `${this.config.pki.serverHost}:${this.config.backend.port}`;
      recordScenario(this.config.runDir, { scenario: `${DirectScenarios.PREFIX}backend listening${this.suffix}`, expected: `a TLS listener on ${where}`, got: 'curl 7: nothing listens', ok: false });
      throw new StepError(`nothing listens on ${where}; start the backend first: ${followUp('make backend-start')}`);
    }
    const status = /HTTP (\d{3})\s*$/.exec(r.stdout)?.[1];
    const problem = !want.codes.includes(code) ? `curl exit ${code}, expected ${want.codes.join(' or ')}`
      : want.body === undefined ? undefined
      : status !== '200' ? `HTTP ${status ?? '?'} instead of 200`
      : !r.stdout.includes(want.body) ? 'HTTP 200 but the body lacks the greeting' : undefined;
    const got = code === 0
      ? `${status ? `HTTP ${status} ` : ''}${r.stdout.replace(/\s*HTTP \d{3}\s*$/, '').trim()}`
      : `curl ${code}: ${(r.stderr.trim().split('\n')[0] ?? '').replace(/^curl: \(\d+\) /, '')}`;
    // curl 0 where the tutorial expects a refusal: the backend let the handshake through without a
    // trusted client certificate, so "both sides verified each other" would be false.
    const why = code === 0 && want.body === undefined
      ? 'the backend completed the handshake without a trusted client certificate and answered over HTTP: it does not require one (client auth want or none, e.g. BACKEND_CLIENT_AUTH; the tutorial\'s backend uses need)'
      : CURL_CLASSES[code] ?? 'unexpected curl exit code';
    log.explain(`tutorial: ${want.tutorial}`);
    log.explain(`got:      ${got}`);
    log.explain(`why:      ${why}`);
    if (problem === undefined) log.created(`${name}: as the tutorial says`);
    else log.warn(`${name}: differs from the tutorial (${problem})`);
    const result = {
      scenario: `${DirectScenarios.PREFIX}${name}${this.suffix}`,
      expected: `curl ${want.codes.join('/')}` + (want.body ? ' + HTTP 200 greeting' : ''),
      got: got.slice(0, 120),
      ok: problem === undefined,
    };
    recordScenario(this.config.runDir, result);
    this.results.push(result);
  }

  /** Throws when any scenario differed from the tutorial. */
  finish(): void {
    const failed = this.results.filter((r) => !r.ok);
    if (failed.length > 0) throw new StepError(`${failed.length} of ${this.results.length} direct scenario(s) differ from the tutorial: ${failed.map((r) => r.scenario).join(', ')}`);
    if (this.results.length > 0) log.created(`all ${this.results.length} direct scenarios behave as the tutorial says`);
    else log.dryRun();
  }
}
