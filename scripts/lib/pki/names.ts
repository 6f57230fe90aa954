// The tutorial's twelve output files, by the exact names it uses, and which files each one feeds.
export const FILES = {
  caKey: 'ca-key.pem',
  caCert: 'ca-cert.pem',
  sanCnf: 'san.cnf',
  serverKey: 'server-key.pem',
  serverCsr: 'server.csr',
  serverCert: 'server-cert.pem',
  serverKeystore: 'server-keystore.p12',
  serverTruststore: 'server-truststore.p12',
  clientKey: 'apigee-client-key.pem',
  clientCsr: 'client.csr',
  clientCert: 'apigee-client-cert.pem',
  clientKeystore: 'client-apigee-keystore.p12',
} as const;

export const ALL_FILES: readonly string[] = Object.values(FILES);

/** Files that must be remade when the given file changes (FORCE=1 on a leaf step, or NEW_CA=1, makes these stale). */
export const DOWNSTREAM: Record<string, readonly string[]> = {
  [FILES.caCert]: [FILES.serverCert, FILES.serverKeystore, FILES.clientCert, FILES.clientKeystore, FILES.serverTruststore],
  [FILES.serverCert]: [FILES.serverKeystore],
  [FILES.clientCert]: [FILES.serverTruststore],
};

/** Aliases inside the stores (the tutorial's -name / -alias values). */
export const ALIASES = { server: 'server', client: 'client', ca: 'ca' } as const;

/** Private keys and keystores (which hold keys) are readable by the owner only. */
export const PRIVATE_MODE = 0o600;
const PUBLIC_MODE = 0o644;
export function modeFor(name: string): number {
  return name.endsWith('-key.pem') || name === FILES.serverKeystore || name === FILES.clientKeystore ? PRIVATE_MODE : PUBLIC_MODE;
}
