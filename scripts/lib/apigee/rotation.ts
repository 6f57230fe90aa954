// What the rotation step (49-rotate-certs) needs besides its own commands: the serial numbers it
// compares, the certificate a TLS server presents (from curl's %{certs}), whether an interrupted
// rotation left a usable new certificate, and how hard the background load pushes.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../../core/config.ts';

/** The new client certificate is made here, with the tutorial's file names, and moved up after success. */
export const NEXT_DIR = 'next';
export const CLIENT_FILES = ['apigee-client-key.pem', 'client.csr', 'apigee-client-cert.pem', 'client-apigee-keystore.p12'] as const;

/** Background load while rotating: 4 keep-alive connections; gentler on Apigee X, where calls are billed. */
export function loadSettings(config: Config): { connections: number; pauseMs: number } {
  return config.apigee.target === 'apigee-x' ? { connections: 4, pauseMs: 500 } : { connections: 4, pauseMs: 50 };
}

/** Serial number of a PEM certificate file (upper-case hex, as the backend's /whoami reports it). */
export function serialOf(file: string): string | undefined {
  try {
    return new X509Certificate(readFileSync(file)).serialNumber.toUpperCase();
  } catch {
    return undefined;
  }
}

/** The server certificate in curl's `-w '%{certs}'` output (the first PEM block: the leaf). */
export function servedSerial(curlStdout: string): string | undefined {
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(curlStdout)?.[0];
  if (!pem) return undefined;
  try {
    return new X509Certificate(pem).serialNumber.toUpperCase();
  } catch {
    return undefined;
  }
}

/**
 * True when `next/` holds a complete new client certificate from an interrupted rotation: issued
 * by this CA, still valid for a while, its key matching. Such a certificate is used again rather
 * than a second one issued.
 */
export function usableNext(certsDir: string): boolean {
  const dir = join(certsDir, NEXT_DIR);
  if (!CLIENT_FILES.every((f) => existsSync(join(dir, f)))) return false;
  try {
    const ca = new X509Certificate(readFileSync(join(certsDir, 'ca-cert.pem')));
    const cert = new X509Certificate(readFileSync(join(dir, 'apigee-client-cert.pem')));
    const key = createPrivateKey(readFileSync(join(dir, 'apigee-client-key.pem')));
    return cert.checkIssued(ca) && cert.verify(ca.publicKey) && cert.checkPrivateKey(key) && new Date(cert.validTo).getTime() > Date.now() + 86_400_000;
  } catch {
    return false;
  }
}
