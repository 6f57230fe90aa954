// How the client key reaches Apigee, and why. The tutorial uploads its PKCS#12 file; Apigee's own
// mTLS sample uploads PEM key + certificate (format keycertfile), and nothing documents that
// Apigee X reads a PKCS#12 encrypted the OpenSSL 3 way (AES-256, PBKDF2, SHA-256 MAC). So:
// - the stand-in gets the tutorial's p12 as it is (unless APIGEE_ALIAS_FORMAT says otherwise);
// - Apigee X gets keycertfile unless the reader chose pkcs12, and then a copy encrypted the legacy
//   way (3DES, SHA-1 MAC) that the step makes in a private temporary folder and deletes after.
// The stand-in in strict mode (APIGEE_LOCAL_STRICT=1) is treated like Apigee X here.
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../../core/config.ts';
import { log } from '../../../core/log.ts';
import { $ } from '../shell.ts';

export interface ClientKeyFiles {
  certFile: string;
  keyFile: string;
  p12File: string;
}

export interface ClientKeyUpload {
  format: 'pkcs12' | 'keycertfile';
  /** pkcs12: the file to send (the tutorial's p12, or the legacy copy to make first). */
  p12File: string;
  /** True when the step must write p12File as a 3DES/SHA-1 copy before uploading it. */
  legacyCopy: boolean;
  /** Deletes the temporary folder of the legacy copy, if any. */
  cleanup(): Promise<void>;
}

/** True when the Apigee being configured is Apigee X, or a stand-in that refuses what X may refuse. */
const readsLikeApigeeX = (config: Config) => config.apigee.target === 'apigee-x' || config.apigee.localStrict;

/** Picks the upload format, says why, and prepares the folder of a legacy copy when one is needed. */
export async function clientKeyUpload(config: Config, files: ClientKeyFiles): Promise<ClientKeyUpload> {
  const { aliasFormat: format, aliasFormatChosen: chosen } = config.apigee;
  const strictTarget = readsLikeApigeeX(config);
  const legacyCopy = format === 'pkcs12' && strictTarget && !config.pki.legacyPkcs12;
  const done = { format, p12File: files.p12File, legacyCopy, cleanup: async () => undefined };
  if (format === 'keycertfile') {
    log.explain(chosen
      ? 'upload format keycertfile (APIGEE_ALIAS_FORMAT): the PEM key and certificate; the tutorial uploads its PKCS#12 file instead'
      : 'upload format keycertfile, the default for Apigee X: PEM key + certificate, as in Apigee\'s own mTLS sample; Apigee X is not documented to read OpenSSL 3\'s AES-encrypted PKCS#12 (APIGEE_ALIAS_FORMAT=pkcs12 uploads a 3DES copy of the p12 instead)');
    return done;
  }
  if (!legacyCopy) {
    log.explain(strictTarget
      ? 'upload format pkcs12: client-apigee-keystore.p12 is already 3DES/SHA-1 (PKCS12_LEGACY=1), a form Apigee X reads'
      : 'upload format pkcs12 (PKCS12/PFX), as in the tutorial: client-apigee-keystore.p12 with the store password');
    return done;
  }
  const reader = config.apigee.target === 'apigee-x' ? 'Apigee X is' : 'the strict stand-in (APIGEE_LOCAL_STRICT=1), like Apigee X, is';
  log.explain(`upload format pkcs12 (${chosen ? 'APIGEE_ALIAS_FORMAT=pkcs12' : 'the tutorial\'s'}): the p12 on disk is AES-256 (OpenSSL 3's default), which ${reader} not documented to read, so a 3DES/SHA-1 copy is made for the upload in a private temporary folder and deleted after; client-apigee-keystore.p12 stays as it is`);
  // mkdir without -p fails on an existing path, so nobody can plant the folder beforehand.
  const dir = join(tmpdir(), `apigee-upload-${randomBytes(6).toString('hex')}`);
  await $`mkdir -m 700 ${dir}`;
  return {
    ...done,
    p12File: join(dir, 'client-apigee-keystore.p12'),
    async cleanup() {
      await $`rm -r ${dir}`;
    },
  };
}
