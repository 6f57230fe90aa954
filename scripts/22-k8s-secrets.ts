#!/usr/bin/env -S node --import tsx
// Tutorial "Crear secret con los certificados (k8s)": the backend's keystore and truststore become
// Kubernetes Secrets, plus one Secret for their passwords, which the Deployment in k8s/base mounts
// as whole directories and reads through secretKeyRef.
//
//   ./scripts/22-k8s-secrets.ts                  create or update the Secrets (kubectl apply)
//   ./scripts/22-k8s-secrets.ts --dry-run        print the commands only (also DRY_RUN=1)
//   ./scripts/22-k8s-secrets.ts --output FILE    write the Secrets' YAML (mode 0600) instead of applying
//
// Names and keys are part of the contract with k8s/base/deployment.yaml and the GCP overlay:
// change them together.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runStep } from './lib/main.ts';
import { run } from './lib/run.ts';
import { log, formatCommand } from '../core/log.ts';
import { writeFileAtomic } from '../core/files.ts';
import { StepError } from '../core/errors.ts';

const KEYSTORE_SECRET = 'ms-mtls-demo-keystore';
const TRUSTSTORE_SECRET = 'ms-mtls-demo-truststore';
const PASSWORDS_SECRET = 'ms-mtls-demo-store-passwords';

function outputPath(argv: string[]): string | undefined {
  const i = argv.findIndex((a) => a === '--output' || a === '-o' || a.startsWith('--output='));
  if (i < 0) return undefined;
  const arg = argv[i] ?? '';
  const value = arg.startsWith('--output=') ? arg.slice('--output='.length) : argv[i + 1];
  if (!value || value.startsWith('-')) throw new StepError('--output needs a file name, e.g. --output secrets.yaml');
  return resolve(value);
}

await runStep(async (config) => {
  log.banner('Kubernetes Secrets for the backend stores', 'Crear secret con los certificados (k8s)');
  const output = outputPath(process.argv.slice(2));
  const namespace = config.gcp.k8sNamespace;
  const certs = config.pki.certsDir;
  const keystore = join(certs, 'server-keystore.p12');
  const truststore = join(certs, 'server-truststore.p12');

  const missing = [keystore, truststore].filter((f) => !existsSync(f));
  if (missing.length > 0) {
    const message = `missing ${missing.join(', ')}: run "make certs" first`;
    if (!config.dryRun) throw new StepError(message);
    log.warn(message);
  }

  // Passwords go to kubectl as files in a private temp folder, never on the command line
  // (where ps would show them).
  const secretDir = mkdtempSync(join(tmpdir(), 'k8s-secrets-'));
  try {
    const keystorePassword = join(secretDir, 'keystore-password');
    const truststorePassword = join(secretDir, 'truststore-password');
    writeFileSync(keystorePassword, config.pki.storePassword, { mode: 0o600 });
    writeFileSync(truststorePassword, config.pki.storePassword, { mode: 0o600 });

    // `shown` is what a reader would type; the password files stand in for --from-literal.
    const secrets: Array<{ name: string; from: string[]; shown?: string[]; what: string }> = [
      { name: KEYSTORE_SECRET, from: [`--from-file=server-keystore.p12=${keystore}`], what: 'server key + certificate (PKCS#12)' },
      { name: TRUSTSTORE_SECRET, from: [`--from-file=server-truststore.p12=${truststore}`], what: 'trusted client CA (PKCS#12)' },
      {
        name: PASSWORDS_SECRET,
        from: [`--from-file=keystore-password=${keystorePassword}`, `--from-file=truststore-password=${truststorePassword}`],
        shown: ['--from-literal=keystore-password=****', '--from-literal=truststore-password=****'],
        what: 'store passwords (passed to kubectl in a private file, not on the command line)',
      },
    ];

    log.explain('Each Secret is rendered by kubectl without a cluster (--dry-run=client) and then applied,');
    log.explain('so re-running the step updates the files in running pods (rotation) instead of failing.');
    const documents: string[] = [];
    for (const secret of secrets) {
      const command = (from: string[]) => ['kubectl', 'create', 'secret', 'generic', secret.name, `--namespace=${namespace}`, ...from, '--dry-run=client', '-o', 'yaml'];
      const shown = formatCommand(command(secret.shown ?? secret.from));
      log.command(output ? `${shown} >> ${output}` : `${shown} | kubectl apply -f -`, secret.what);
      if (config.dryRun) continue;
      const rendered = await run(command(secret.from), { quiet: true });
      documents.push(rendered.stdout.trimEnd());
      if (!output) {
        await run(['kubectl', 'apply', '-f', '-'], { quiet: true, input: rendered.stdout });
        log.created(`Secret ${namespace}/${secret.name}`);
      }
    }
    if (config.dryRun) {
      log.dryRun();
      return;
    }
    if (output) {
      // The YAML carries the stores and passwords (base64 is not encryption): owner-only.
      writeFileAtomic(output, documents.join('\n---\n') + '\n', 0o600);
      log.created(output, `(${secrets.length} Secrets, mode 0600; apply with: kubectl apply -f ${output})`);
    }
  } finally {
    rmSync(secretDir, { recursive: true, force: true });
  }
});
