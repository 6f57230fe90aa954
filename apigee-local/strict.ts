// APIGEE_LOCAL_STRICT=1: the stand-in refuses what Apigee X is not known to accept, so a run against
// it fails where a first run against Apigee X might (reference: the UNCONFIRMED notes). Each refusal
// is a 400 INVALID_ARGUMENT in Google's envelope whose message starts with "APIGEE_LOCAL_STRICT"
// and says what to send instead. The list, with the reason for each, is in docs/apigee-local.md.
import { execFile } from 'node:child_process';
import { lastLine } from '../core/errors.ts';
import { invalid, type ApiError } from './errors.ts';
import type { State } from './state.ts';

export const strictRefusal = (what: string, instead: string): ApiError =>
  invalid(`APIGEE_LOCAL_STRICT: ${what}; Apigee X is not known to accept that. ${instead}`);

export interface Pkcs12Protection {
  /** MAC digest as openssl names it (sha1, sha256…), undefined when the file has no MAC. */
  mac?: string;
  /** Every encryption scheme line openssl reports (e.g. "PBES2, PBKDF2, AES-256-CBC, …"). */
  schemes: string[];
}

/**
 * How a PKCS#12 file is protected, as `openssl pkcs12 -info -noout` reports it. Called only for a
 * file lib/pkcs12.ts already read within its work limits; runs in its own process (never on the
 * event loop) with a time limit.
 */
export function pkcs12Protection(p12: Buffer, password: string): Promise<Pkcs12Protection> {
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', ['pkcs12', '-info', '-noout', '-passin', 'env:APIGEE_LOCAL_P12_PASSWORD'], {
      env: { PATH: process.env.PATH ?? '', APIGEE_LOCAL_P12_PASSWORD: password },
      timeout: 10_000,
      maxBuffer: 64 * 1024,
    }, (error, _stdout, stderr) => {
      if (error) {
        reject(invalid(`APIGEE_LOCAL_STRICT: openssl cannot read the PKCS#12 file: ${lastLine(String(stderr)) || error.message}`));
        return;
      }
      const lines = String(stderr).split('\n');
      const mac = lines.map((l) => /^MAC: ([^,]+)/.exec(l)?.[1]).find((m) => m !== undefined);
      const schemes = lines.map((l) => /^(?:PKCS7 Encrypted data|Shrouded Keybag): (.+)$/.exec(l)?.[1]).filter((s): s is string => s !== undefined);
      resolve(mac === undefined ? { schemes } : { mac, schemes });
    });
    child.stdin?.end(p12);
  });
}

/** Refuses a PKCS#12 file protected in a way Go's legacy reader (likely Apigee's, reference §6.6) cannot read. */
export function checkPkcs12Protection(protection: Pkcs12Protection): void {
  const modern = protection.schemes.filter((s) => /PBES2|AES/i.test(s));
  const instead = 'Upload format=keycertfile (PEM key + certificate, what the official sample does), or export the file with '
    + 'openssl pkcs12 -export -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 (PKCS12_LEGACY=1).';
  const found: string[] = [...new Set(modern)].map((s) => `encryption ${s}`);
  if (protection.mac === undefined) found.push('no MAC');
  else if (protection.mac.toLowerCase() !== 'sha1') found.push(`a ${protection.mac} MAC`);
  if (found.length > 0) throw strictRefusal(`the PKCS#12 file uses ${found.join(' and ')} (OpenSSL 3 writes AES-256 and SHA-256 by default)`, instead);
}

const BOOLEAN_FIELDS = ['enabled', 'clientAuthEnabled', 'ignoreValidationErrors', 'enforce'] as const;

// The documented fields (reference §1.4, §1.5). Google's APIs answer 400 "Unknown name" for any
// other; ignoring it here would hide a typo such as "keystore" for "keyStore" until a real run.
const TARGET_SERVER_FIELDS = ['name', 'description', 'host', 'port', 'isEnabled', 'protocol', 'sSLInfo'];
const TLS_INFO_FIELDS = ['enabled', 'clientAuthEnabled', 'keyStore', 'keyAlias', 'trustStore', 'ignoreValidationErrors', 'enforce', 'protocols', 'ciphers', 'commonName'];
const REFERENCE_FIELDS = ['name', 'description', 'resourceType', 'refers'];

function checkKnownFields(json: Record<string, unknown>, known: readonly string[], what: string, prefix = ''): void {
  const unknown = Object.keys(json).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    // The names come from the caller: quoted, shortened, at most five of them in the message.
    const names = unknown.slice(0, 5).map((key) => JSON.stringify(`${prefix}${key}`.slice(0, 64))).join(', ') + (unknown.length > 5 ? ` and ${unknown.length - 5} more` : '');
    throw strictRefusal(`${names} ${unknown.length === 1 ? 'is not a field' : 'are not fields'} of ${what}`, `Its fields are ${known.join(', ')}.`);
  }
}

/** Target server JSON in the forms real clients are known to send (reference §1.5). */
export function checkStrictTargetServer(json: Record<string, unknown>): void {
  const ssl = (typeof json.sSLInfo === 'object' && json.sSLInfo !== null ? json.sSLInfo : {}) as Record<string, unknown>;
  const stringBools = [
    ...(typeof json.isEnabled === 'string' ? ['isEnabled'] : []),
    ...BOOLEAN_FIELDS.filter((f) => typeof ssl[f] === 'string').map((f) => `sSLInfo.${f}`),
  ];
  if (stringBools.length > 0) throw strictRefusal(`${stringBools.join(', ')} sent as strings`, 'Send JSON booleans (true/false).');
  if (typeof json.protocol === 'string' && json.protocol !== json.protocol.toUpperCase()) {
    throw strictRefusal(`protocol "${json.protocol}" in lower case`, 'Send the enum value as documented, e.g. "HTTP".');
  }
  if (json.sslInfo !== undefined) throw strictRefusal('the TLS settings came as "sslInfo"', 'The field is named "sSLInfo" (legacy spelling, as documented).');
  checkKnownFields(json, TARGET_SERVER_FIELDS, 'a target server');
  if (typeof json.sSLInfo === 'object' && json.sSLInfo !== null) {
    checkKnownFields(ssl, TLS_INFO_FIELDS, 'sSLInfo', 'sSLInfo.');
    if (typeof ssl.commonName === 'object' && ssl.commonName !== null) {
      checkKnownFields(ssl.commonName as Record<string, unknown>, ['value', 'wildcardMatch'], 'sSLInfo.commonName', 'sSLInfo.commonName.');
    }
  }
}

/** References as apigeecli and Terraform send them: flat, not wrapped (reference §1.4). */
export function checkStrictReference(json: Record<string, unknown>): void {
  if (json.reference !== undefined) {
    throw strictRefusal('the reference came wrapped as {"reference": {…}} (one documentation page\'s example)', 'Send it flat: {"name", "resourceType", "refers"}.');
  }
  checkKnownFields(json, REFERENCE_FIELDS, 'a reference');
}

/**
 * Deleting a keystore that a reference or a target server still names: whether Apigee X refuses it
 * is UNCONFIRMED (reference §1.2), so strict mode does, and a cleanup that passes here deletes in
 * an order Apigee accepts either way (users first, then the store).
 */
export function checkStrictKeystoreDelete(state: State, keystore: string): void {
  const users = [
    ...Object.values(state.references).filter((r) => r.refers === keystore).map((r) => `reference ${r.name}`),
    ...Object.values(state.targetServers)
      .filter((t) => t.sSLInfo?.keyStore === keystore || t.sSLInfo?.trustStore === keystore)
      .map((t) => `target server ${t.name}`),
  ];
  if (users.length > 0) throw strictRefusal(`keystore ${keystore} is still used by ${users.join(', ')}`, 'Delete or repoint those first.');
}
