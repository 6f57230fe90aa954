// Certificates as the management API sees them: parse and validate uploads. Describing them the way
// Apigee's `certInfo` does (Go-style names such as "SHA256-RSA") is lib/x509-info.ts's job.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { DerError, parseDer, readOid, readSmallInt, sequence } from '../lib/der.ts';
import { PKCS12_LIMITS } from '../lib/pkcs12.ts';
import { describeCertificate } from '../lib/x509-info.ts';
import { invalid } from './errors.ts';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END \1-----/g;

/** Splits a certFile into certificates; anything else in it (e.g. a key) is refused like Apigee does. */
export function parseCertificates(text: string): X509Certificate[] {
  const blocks = [...text.matchAll(PEM_BLOCK)];
  const rest = text.replace(PEM_BLOCK, '').trim();
  if (blocks.length === 0 || rest !== '' || blocks.some((b) => b[1] !== 'CERTIFICATE')) {
    throw invalid('failed to parse x509 certificate');
  }
  return blocks.map((b) => {
    try {
      const cert = new X509Certificate(b[0]);
      describeCertificate(cert); // what cannot be described cannot be listed later either
      return cert;
    } catch {
      throw invalid('failed to parse x509 certificate');
    }
  });
}

const KEY_DECRYPT_MS = 2000;
/** The same derivation budget lib/pkcs12.ts gives a whole PKCS#12 file. */
const MAX_PBKDF2_ITERATIONS = PKCS12_LIMITS.work;
const OID_PBES2 = '1.2.840.113549.1.5.13';
const OID_PBKDF2 = '1.2.840.113549.1.5.12';

/**
 * The PBKDF2 iteration count an encrypted PKCS#8 key asks for, read before anything is derived.
 * node:crypto decrypts such keys but cannot tell their cost first; these four fields are read with
 * the project's DER reader (lib/der.ts). Undefined for other schemes or unreadable input (then
 * createPrivateKey, in the worker below, has the last word).
 */
function pbkdf2Iterations(text: string): number | undefined {
  const body = /-----BEGIN ENCRYPTED PRIVATE KEY-----([A-Za-z0-9+/=\s]*?)-----END ENCRYPTED PRIVATE KEY-----/.exec(text)?.[1];
  if (body === undefined) return undefined;
  try {
    const [algorithm] = sequence(parseDer(Buffer.from(body, 'base64')), 'EncryptedPrivateKeyInfo', 2);
    const [scheme, params] = sequence(algorithm, 'AlgorithmIdentifier', 1);
    if (readOid(scheme) !== OID_PBES2) return undefined;
    const [kdf] = sequence(params, 'PBES2-params', 2);
    const [kdfOid, kdfParams] = sequence(kdf, 'keyDerivationFunc', 2);
    if (readOid(kdfOid) !== OID_PBKDF2) return undefined;
    const [, iterations] = sequence(kdfParams, 'PBKDF2-params', 2);
    return readSmallInt(iterations, 'iterationCount');
  } catch (error) {
    if (error instanceof DerError) return undefined;
    throw error;
  }
}

/** A PEM private key; encrypted ones are decrypted off the event loop (see below). */
export async function parsePrivateKey(text: string, password: string | undefined): Promise<KeyObject> {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw invalid('failed to parse private key: no PEM private key found');
  const wrong = () => invalid(password ? 'failed to decrypt private key: wrong password or malformed key' : 'failed to parse private key (encrypted keys need a password)');
  if (!/ENCRYPTED/.test(text)) {
    try {
      return createPrivateKey({ key: text, format: 'pem' });
    } catch {
      throw wrong();
    }
  }
  // An encrypted key names its own key-derivation cost (PBKDF2 iterations, scrypt parameters): a
  // hostile one could ask for minutes. Absurd PBKDF2 counts are refused before any derivation; the
  // rest is decrypted in a worker thread that is given up after 2 s of running. The clock starts
  // once the worker is online: starting a thread on a loaded machine is not the key's cost (it took
  // over 2 s there and turned an ordinary key into "too costly").
  const iterations = pbkdf2Iterations(text);
  if (iterations !== undefined && iterations > MAX_PBKDF2_ITERATIONS) {
    throw invalid(`the encrypted private key asks for ${iterations} PBKDF2 iterations, over the limit of ${MAX_PBKDF2_ITERATIONS}; re-encrypt it with default settings`);
  }
  return new Promise((resolve, reject) => {
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { createPrivateKey } = require('node:crypto');
       try { parentPort.postMessage({ key: createPrivateKey({ key: workerData.text, format: 'pem', passphrase: workerData.password }) }); }
       catch { parentPort.postMessage({ failed: true }); }`,
      { eval: true, workerData: { text, password: password ?? '' } },
    );
    let timer: NodeJS.Timeout | undefined;
    const startClock = () => {
      timer = setTimeout(() => {
        void worker.terminate();
        reject(invalid(`decrypting the private key takes longer than ${KEY_DECRYPT_MS / 1000} s (its key derivation is too costly); re-encrypt it with default settings`));
      }, KEY_DECRYPT_MS);
    };
    worker.once('online', startClock);
    worker.once('message', (reply: { key?: KeyObject; failed?: boolean }) => {
      worker.off('online', startClock); // a busy loop may see the answer first
      clearTimeout(timer);
      void worker.terminate();
      if (reply.key) resolve(reply.key);
      else reject(wrong());
    });
    worker.once('error', (error) => {
      worker.off('online', startClock);
      clearTimeout(timer);
      reject(invalid(`failed to parse private key: ${error.message}`));
    });
  });
}

/** Refuses expired certificates and a key that does not belong to the leaf. */
export function validateEntry(certs: X509Certificate[], key: KeyObject | undefined, ignoreExpiry: boolean): void {
  const leaf = certs[0];
  if (!leaf) throw invalid('failed to parse x509 certificate');
  if (!ignoreExpiry) {
    for (const cert of certs) {
      const { subject, notAfter } = describeCertificate(cert);
      if (notAfter < Date.now()) {
        throw invalid(`certificate "${subject}" expired on ${new Date(notAfter).toISOString()}; use ignoreExpiryValidation=true to upload it anyway`);
      }
    }
  }
  if (key && !leaf.checkPrivateKey(key)) throw invalid('private key does not match the certificate (public key mismatch)');
}

export const certPem = (cert: X509Certificate): string => cert.toString().trimEnd() + '\n';

