// No drift between the docs and the code: every `make …`, `./scripts/…` and `npm run …` command in
// README.md, README.es.md and docs/*.md (code blocks and inline code) must name a real Makefile
// target, executable script or npm script; the documented Apigee steps also run with DRY_RUN=1.
// No drift between the languages: the English and Spanish READMEs show the same commands, link to
// each other, and their links to files (and headings) in the repository resolve.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../core/config.ts';
import { pkiFixture } from './helpers/fixtures.ts';
import { runSteps } from './helpers/apigee-steps.ts';
import { tempDir } from './helpers/temp.ts';

interface DocCommand { file: string; line: string; kind: 'make' | 'script' | 'npm'; names: string[] }

const READMES = ['README.md', 'README.es.md'] as const;
const docFiles = () => [...READMES, ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Command lines from fenced code blocks and inline code spans. */
function extractCommands(file: string, text: string): DocCommand[] {
  const snippets: string[] = [];
  for (const block of text.matchAll(/^```[^\n]*\n([\s\S]*?)^```/gm)) snippets.push(...(block[1] ?? '').split('\n'));
  const prose = text.replace(/^```[^\n]*\n[\s\S]*?^```/gm, '');
  for (const span of prose.matchAll(/`([^`\n]+)`/g)) snippets.push(span[1] ?? '');
  const commands: DocCommand[] = [];
  for (const raw of snippets) {
    // Drop a prompt, a trailing comment and leading VAR=value assignments.
    const line = raw.replace(/^\s*\$\s+/, '').replace(/\s+#.*$/, '').trim().replace(/^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+/, '');
    let m: RegExpExecArray | null;
    if ((m = /^make((?:\s+[^\s|;&]+)*)/.exec(line))) {
      const names = (m[1] ?? '').trim().split(/\s+/).filter((w) => w && !w.startsWith('-') && !w.includes('='));
      commands.push({ file, line, kind: 'make', names: names.length ? names : ['(default)'] });
    } else if ((m = /^\.\/(scripts\/[\w.-]+\.ts)\b/.exec(line))) {
      commands.push({ file, line, kind: 'script', names: [m[1]!] });
    } else if ((m = /^npm run ([\w:.-]+)/.exec(line))) {
      commands.push({ file, line, kind: 'npm', names: [m[1]!] });
    }
  }
  return commands;
}

function makeTargets(): Set<string> {
  const text = readFileSync(join(repoRoot, 'Makefile'), 'utf8');
  return new Set([...text.matchAll(/^([a-z][\w-]*)\s*:(?!=)/gm)].map((m) => m[1]!));
}

const all = () => docFiles().flatMap((f) => extractCommands(f, readFileSync(join(repoRoot, f), 'utf8')));

test('the extractor finds commands in blocks and inline code, and skips prose', () => {
  const sample = 'Run `make certs` then:\n\n```sh\n$ DRY_RUN=1 ./scripts/42-keystore.ts --x   # note\nnpm run postman\necho make all\n```\nNot a command: make it so.\n';
  assert.equal(extractCommands('x.md', sample).map((c) => [c.kind, c.names]), [
    ['script', ['scripts/42-keystore.ts']], ['npm', ['postman']], ['make', ['certs']],
  ]);
});

test('both READMEs and both walk-throughs document the two commands and the Apigee steps', () => {
  const commands = all();
  const has = (file: string, kind: DocCommand['kind'], name: string) => commands.some((c) => c.file === file && c.kind === kind && c.names.includes(name));
  for (const readme of READMES) assert.ok(has(readme, 'make', 'all') && has(readme, 'make', 'test'), `${readme} lacks make all / make test`);
  // The English walk-through and the Spanish one for readers of the original tutorial name the
  // same steps, from the stand-in through rotation (49) to the summary (90) and clean-up (99).
  for (const file of ['docs/tutorial.md', 'docs/tutorial.es.md']) {
    for (const n of [40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 90, 99]) {
      assert.ok(commands.some((c) => c.file === file && c.kind === 'script' && c.names[0]!.startsWith(`scripts/${n}-`)), `${file} lacks script ${n}`);
    }
    for (const target of ['certs', 'rotate', 'clean']) assert.ok(has(file, 'make', target), `${file} lacks make ${target}`);
  }
});

test('every documented make target, script and npm script exists', () => {
  const targets = makeTargets();
  const npmScripts = Object.keys((JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
  const missing: string[] = [];
  for (const c of all()) {
    for (const name of c.names) {
      if (c.kind === 'make' && name !== '(default)' && !targets.has(name)) missing.push(`${c.file}: make ${name}`);
      if (c.kind === 'npm' && !npmScripts.includes(name)) missing.push(`${c.file}: npm run ${name}`);
      if (c.kind === 'script') {
        const path = join(repoRoot, name);
        try {
          accessSync(path, constants.X_OK);
        } catch {
          missing.push(`${c.file}: ./${name}${existsSync(path) ? ' (not executable)' : ''}`);
        }
      }
    }
  }
  assert.equal(missing, [], `documented but missing:\n${missing.join('\n')}`);
});

/** The commands a document shows, as written (prompt, trailing comment and VAR=value prefixes dropped). */
const shownCommands = (file: string) => new Set(extractCommands(file, readFileSync(join(repoRoot, file), 'utf8')).map((c) => c.line));

/** Lines in `a` that are not in `b`. */
const notIn = (a: Set<string>, b: Set<string>) => [...a].filter((line) => !b.has(line)).sort();

test('README.md and README.es.md show the same commands', () => {
  const [en, es] = READMES.map(shownCommands) as [Set<string>, Set<string>];
  assert.ok(en.size >= 20, `only ${en.size} commands found in README.md`);
  const onlyEn = notIn(en, es);
  const onlyEs = notIn(es, en);
  assert.equal([onlyEn, onlyEs], [[], []],
    `the READMEs drifted apart:\n  only in README.md: ${onlyEn.join(' | ') || '-'}\n  only in README.es.md: ${onlyEs.join(' | ') || '-'}`);
});

/** GitHub's heading anchor: lower case, punctuation dropped (letters with accents kept), spaces → '-'. */
const anchorOf = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');

test('the anchor rule matches GitHub for headings with code, commas and accents', () => {
  assert.is(anchorOf('What `make all` does'), 'what-make-all-does');
  assert.is(anchorOf('Quién guarda cada clave, y en qué confía cada almacén'), 'quién-guarda-cada-clave-y-en-qué-confía-cada-almacén');
});

test('each README links to the other, and its links into the repository resolve', () => {
  const anchors = (file: string) => new Set([...readFileSync(join(repoRoot, file), 'utf8').replace(/^```[^\n]*\n[\s\S]*?^```/gm, '')
    .matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => anchorOf(m[1]!)));
  const broken: string[] = [];
  for (const readme of READMES) {
    const text = readFileSync(join(repoRoot, readme), 'utf8');
    const other = READMES.find((r) => r !== readme)!;
    assert.ok(text.split('\n').slice(0, 5).some((l) => l.includes(`](${other})`)), `${readme} does not link to ${other} at the top`);
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const file = path === '' ? readme : path;
      if (!existsSync(join(repoRoot, file))) broken.push(`${readme}: ${target} (no such file)`);
      else if (anchor !== undefined && file.endsWith('.md') && !anchors(file).has(anchor)) broken.push(`${readme}: ${target} (no such heading)`);
    }
  }
  assert.equal(broken, [], `broken links:\n${broken.join('\n')}`);
});

test('the documented Apigee steps run with DRY_RUN=1', async () => {
  const { pki } = await pkiFixture();
  const steps = [...new Set(all().filter((c) => c.kind === 'script' && /^scripts\/(4[1-9]|90)-/.test(c.names[0]!)).map((c) => c.names[0]!))]
    // 90-summary reads recorded results; in a fresh RUN_DIR there are none by design.
    .filter((s) => !s.startsWith('scripts/90-')).sort();
  assert.ok(steps.length >= 9, `only ${steps.length} Apigee steps documented`);
  const run = await runSteps(steps.map((s) => s.replace(/^scripts\/|\.ts$/g, '')), {
    PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', FORCE_COLOR: '0', DRY_RUN: '1',
    CERTS_DIR: pki, RUN_DIR: tempDir('docs-dry-'), STORE_PASSWORD: 'changeit', SERVER_HOST: '127.0.0.1', APIGEE_TARGET: 'local',
  });
  assert.is(run.exitCode, 0, run.output);
  assert.is(run.output.split('DRY_RUN: printed only').length - 1, steps.length, 'a step did not finish in DRY_RUN');
});

test.run();
