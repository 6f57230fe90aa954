#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// After tutorial step 12 ("Cómo resultado de este paso…": the tutorial only lists the files):
// inspect and check everything made so far. Each certificate shows subject, issuer, SANs, usages,
// fingerprint and days left, and must be exactly what its role needs (a CA; serverAuth only for
// the backend, clientAuth only for Apigee); keys must match and be private, stores must open with
// STORE_PASSWORD and hold the tutorial's aliases. node:crypto and lib/pkcs12.ts check in-process
// (scripts/lib/pki/verify.ts) while openssl checks the chains for their TLS purpose and opens the
// truststore. Any problem exits non-zero; less than 30 days left is a warning.
import { existsSync } from 'node:fs';
import { $, type ProcessPromise } from './lib/shell.ts';
import { runStep } from './lib/main.ts';
import { displayPath, log } from '../core/log.ts';
import { StepError, lastLine } from '../core/errors.ts';
import { verifyPki, type Finding } from './lib/pki/verify.ts';
import { requireTools } from './lib/pki/workspace.ts';
import { followUp } from './lib/follow-up.ts';

await runStep(async (config) => {
  requireTools();
  log.banner('Verify the certificates and stores', 'result of steps 1–12, "Cómo resultado de este paso…"');
  const dir = config.pki.certsDir;
  if (!config.dryRun && !existsSync(dir)) throw new StepError(`${displayPath(dir)} does not exist: make the certificates first (${followUp('make certs')}), or set CERTS_DIR to their folder`);

  // The openssl checks run side by side while Node does its own. A keystore needs none: Node loads
  // it as a TLS pfx (through its own OpenSSL); a truststore holds no key, so openssl opens it.
  $.cwd = dir;
  const check = $({ nothrow: true });
  const opensslChecks: Array<[string, ProcessPromise]> = [
    ['server-cert.pem chains to ca-cert.pem for TLS server use (openssl)', check`openssl verify -CAfile ca-cert.pem -purpose sslserver server-cert.pem`],
    ['apigee-client-cert.pem chains to ca-cert.pem for TLS client use (openssl)', check`openssl verify -CAfile ca-cert.pem -purpose sslclient apigee-client-cert.pem`],
    ['server-truststore.p12 opens with openssl', check`openssl pkcs12 -in server-truststore.p12 -nokeys -noout -password env:STORE_PASSWORD`],
  ];
  if (config.dryRun) {
    await Promise.all(opensslChecks.map(([, run]) => run));
    log.dryRun();
    return;
  }

  const sections = verifyPki(config);
  const findings: Finding[] = await Promise.all(opensslChecks.map(async ([text, run]) => {
    const result = await run;
    // OpenSSL 3 error lines look like "<id>:error:<code>:<library>:<function>:<reason>:<file>:<line>:".
    const why = lastLine(result.stderr || result.stdout).replace(/^[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):.*$/, '$1') || `exit ${result.exitCode}`;
    return { ok: result.exitCode === 0, text: result.exitCode === 0 ? text : `${text}: ${why}` };
  }));
  sections.push({ title: 'openssl checks', details: [], findings });

  const count = { passed: 0, problems: 0, warnings: 0 };
  for (const section of sections) {
    log.info('');
    log.info(section.title);
    for (const [label, value] of section.details) log.explain(`  ${label.padEnd(18)} ${value}`);
    for (const f of section.findings) {
      if (!f.ok) {
        count.problems++;
        log.error(`${section.title}: ${f.text}`);
      } else if (f.warn) {
        count.warnings++;
        log.warn(f.text);
      } else {
        count.passed++;
        log.created(f.text);
      }
    }
  }
  log.info('');
  const summary = `${count.passed} checks passed, ${count.problems} problem(s), ${count.warnings} warning(s)`;
  if (count.problems > 0) throw new StepError(`${summary} in ${displayPath(dir)}; fix them or re-run ${followUp('make certs')} (FORCE=1 re-issues every certificate and store from the kept CA; NEW_CA=1 also replaces the CA)`);
  log.info(summary);
});
