#!/usr/bin/env -S node --import tsx
// After tutorial step 12 (the tutorial only lists the files): inspect and check everything made so
// far. Each certificate shows subject, issuer, SANs, usages, fingerprint and days left; chains are
// checked with openssl and with node:crypto, keys against certificates, stores opened and listed.
// The checks openssl adds (chains for a TLS purpose, the truststore) run side by side.
// Any problem exits non-zero; less than 30 days left is a warning.
import { runStep } from './lib/main.ts';
import { log } from '../core/log.ts';
import { StepError } from '../core/errors.ts';
import { run } from './lib/run.ts';
import { FILES } from './lib/pki/names.ts';
import { PASSWORD_ENV, pkcs12Certs, verifyChain } from './lib/pki/openssl.ts';
import { verifyPki, type Finding } from './lib/pki/verify.ts';
import { display, requireNode, requireOpenssl } from './lib/pki/workspace.ts';

await runStep(async (config) => {
  requireNode();
  requireOpenssl();
  log.banner('Verify the certificates and stores', 'result of steps 1–12, "Cómo resultado de este paso…"');
  const dir = config.pki.certsDir;
  log.explain(`checking ${display(dir)}:`);

  const opensslChecks: Array<{ argv: string[]; text: string }> = [
    { argv: verifyChain({ caCert: FILES.caCert, cert: FILES.serverCert, purpose: 'sslserver' }), text: `${FILES.serverCert} chains to ${FILES.caCert} for TLS server use (openssl)` },
    { argv: verifyChain({ caCert: FILES.caCert, cert: FILES.clientCert, purpose: 'sslclient' }), text: `${FILES.clientCert} chains to ${FILES.caCert} for TLS client use (openssl)` },
    // The keystores need no openssl run: Node loads them as TLS pfx (through its own OpenSSL) below.
    // A truststore holds no key, so Node cannot load it that way; the openssl CLI opens it instead.
    { argv: [...pkcs12Certs(FILES.serverTruststore), '-noout'], text: `${FILES.serverTruststore} opens with openssl` },
  ];
  if (config.dryRun) {
    for (const c of opensslChecks) log.command(c.argv);
    log.dryRun();
    return;
  }

  // The openssl checks are independent: run them side by side while Node does its own checks.
  const opensslRuns = opensslChecks.map((c) => run(c.argv, { cwd: dir, env: { [PASSWORD_ENV]: config.pki.storePassword }, allowExitCodes: [1, 2] }));
  const sections = verifyPki(config);
  const opensslFindings: Finding[] = (await Promise.all(opensslRuns)).map((result, i) => {
    const last = (result.stderr || result.stdout).trim().split('\n').filter(Boolean).pop() ?? `exit ${result.exitCode}`;
    // OpenSSL 3 error lines look like "<id>:error:<code>:<library>:<function>:<reason>:<file>:<line>:".
    const why = result.exitCode === 0 ? '' : `: ${last.replace(/^[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):.*$/, '$1')}`;
    return { ok: result.exitCode === 0, text: opensslChecks[i]!.text + why };
  });
  sections.push({ title: 'openssl checks', details: [], findings: opensslFindings });

  let problems = 0;
  let warnings = 0;
  let passed = 0;
  for (const section of sections) {
    log.info('');
    log.info(section.title);
    for (const [label, value] of section.details) log.explain(`  ${label.padEnd(18)} ${value}`);
    for (const f of section.findings) {
      if (!f.ok) {
        problems++;
        log.error(`${section.title}: ${f.text}`);
      } else if (f.warn) {
        warnings++;
        log.warn(f.text);
      } else {
        passed++;
        log.created(f.text);
      }
    }
  }
  log.info('');
  const summary = `${passed} checks passed, ${problems} problem(s), ${warnings} warning(s)`;
  if (problems > 0) throw new StepError(`${summary} in ${display(dir)}; fix them or re-run make certs (FORCE=1 remakes everything)`);
  log.info(summary);
});
