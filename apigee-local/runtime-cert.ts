// The runtime's own HTTPS certificate: issued by the project CA for 127.0.0.1 and localhost so
// clients call the proxy with `--cacert ca-cert.pem`, exactly as they would trust a real host.
// Reissued when missing, expiring within a day, or signed by a different CA.
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { lastLine } from '../core/errors.ts';
import { writeFileAtomic } from '../core/files.ts';

const exec = promisify(execFile);

export interface RuntimeCert {
  cert: string;
  key: string;
  /** True when this start had to issue a new certificate. */
  issued: boolean;
}

function stillGood(certPath: string, keyPath: string, ca: X509Certificate): boolean {
  if (!existsSync(certPath) || !existsSync(keyPath)) return false;
  try {
    const cert = new X509Certificate(readFileSync(certPath));
    const key = createPrivateKey(readFileSync(keyPath));
    return (
      Date.parse(cert.validTo) > Date.now() + 86_400_000 &&
      cert.checkIssued(ca) &&
      cert.verify(ca.publicKey) &&
      cert.checkPrivateKey(key)
    );
  } catch {
    return false;
  }
}

/** The project CA is missing. Which command makes it with the run's settings is the caller's to say (main.ts). */
export class NoProjectCaError extends Error {
  override name = 'NoProjectCaError';
}

export async function ensureRuntimeCert(stateDir: string, caCertFile: string, caKeyFile: string): Promise<RuntimeCert> {
  for (const file of [caCertFile, caKeyFile]) {
    if (!existsSync(file)) throw new NoProjectCaError(`${file} not found: create the project CA first`);
  }
  const ca = new X509Certificate(readFileSync(caCertFile));
  const certPath = join(stateDir, 'runtime-cert.pem');
  const keyPath = join(stateDir, 'runtime-key.pem');
  if (stillGood(certPath, keyPath, ca)) {
    return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8'), issued: false };
  }
  const work = mkdtempSync(join(stateDir, '.runtime-cert-'));
  try {
    const key = join(work, 'key.pem');
    const csr = join(work, 'req.csr');
    const ext = join(work, 'ext.cnf');
    const cert = join(work, 'cert.pem');
    writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
    await exec('openssl', ['genpkey', '-quiet', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
    await exec('openssl', ['req', '-new', '-key', key, '-subj', '/O=apigee-local/CN=localhost', '-out', csr]);
    await exec('openssl', ['x509', '-req', '-in', csr, '-CA', caCertFile, '-CAkey', caKeyFile, '-set_serial', `0x${Date.now().toString(16)}`,
      '-days', '30', '-sha256', '-extfile', ext, '-out', cert]);
    const certText = readFileSync(cert, 'utf8');
    const keyText = readFileSync(key, 'utf8');
    writeFileAtomic(keyPath, keyText, 0o600);
    writeFileAtomic(certPath, certText, 0o644);
    return { cert: certText, key: keyText, issued: true };
  } catch (error) {
    const stderr = lastLine(String((error as { stderr?: string }).stderr ?? ''));
    throw new Error(`could not issue the runtime certificate with openssl: ${stderr || (error as Error).message}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
