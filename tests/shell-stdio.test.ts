// zx's `stdio` option through the kit's setup (scripts/lib/shell.ts): by default a command's stdin
// is /dev/null and its output is piped and kept for the step; `$({ stdio: 'inherit' })` hands the
// program this process's own descriptors (a foreground server's log goes straight out and is never
// held in memory). Run in a child process so its descriptors are ones the test chose.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../core/config.ts';

const script = `
import { readlinkSync } from 'node:fs';
import { setupShell, $ } from ${JSON.stringify(join(repoRoot, 'scripts', 'lib', 'shell.ts'))};
setupShell({ dryRun: false });
const own = [0, 1].map((fd) => readlinkSync('/proc/self/fd/' + fd)).join(' ');
const piped = await $\`echo kept-output; readlink /proc/self/fd/0\`;
const inherited = await $({ stdio: 'inherit' })\`echo live-output $(readlink /proc/$$/fd/0 /proc/$$/fd/1)\`;
const given = await $({ stdio: 'inherit', input: 'typed\\n' })\`cat\`;
console.log('RESULT ' + JSON.stringify({ own, piped: piped.stdout, inherited: inherited.stdout, given: given.stdout }));
`;

test("the kit's default keeps the output and closes stdin; stdio: 'inherit' writes straight out and keeps nothing", async () => {
  const r = await execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, reject: false, env: { FORCE_COLOR: '0' } });
  assert.is(r.exitCode, 0, r.stderr);
  const result = JSON.parse(/^RESULT (.*)$/m.exec(r.stdout)![1]!) as Record<string, string>;
  assert.is(result.piped, 'kept-output\n/dev/null\n', 'default: output kept for the step, stdin is /dev/null');
  assert.not.match(r.stdout, /^kept-output$/m, 'default: nothing reaches the terminal but the printed command');
  assert.is(result.inherited, '', 'inherit: nothing is kept in memory');
  assert.match(r.stdout, `\nlive-output ${result.own}\n`, "inherit: the program wrote to this process's stdout, its stdin and stdout are this process's");
  assert.match(r.stdout, /^typed$/m, 'input given: stdin is a pipe carrying it, output still inherited');
  assert.is(result.given, '');
});

test.run();
