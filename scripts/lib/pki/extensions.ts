// The X.509 extensions node:crypto does not expose (basic constraints, key usage bits), read from
// the certificate's DER with lib/der.ts so the verify step needs no openssl call per certificate.
import type { X509Certificate } from 'node:crypto';
import { Tag, childrenOf, contextTag, parseDer, readBitString, readBoolean, readOctets, readOid } from '../../../lib/der.ts';

const OIDS = { basicConstraints: '2.5.29.19', keyUsage: '2.5.29.15', extKeyUsage: '2.5.29.37' } as const;
const KEY_USAGE_BITS = [
  'digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement',
  'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly',
] as const;

export interface Extension { critical: boolean; value: Buffer }

export interface CertExtensions {
  all: Map<string, Extension>;
  basicConstraints?: { ca: boolean; critical: boolean };
  keyUsage?: { usages: string[]; critical: boolean };
}

/** Certificate ::= SEQUENCE { tbsCertificate, … }; the extensions are tbsCertificate's [3]. */
export function readExtensions(cert: X509Certificate): CertExtensions {
  const [tbs] = childrenOf(parseDer(cert.raw));
  const wrapper = tbs ? childrenOf(tbs).find((n) => n.tag === contextTag(3)) : undefined;
  const all = new Map<string, Extension>();
  for (const ext of wrapper ? childrenOf(childrenOf(wrapper)[0]!) : []) {
    const parts = childrenOf(ext);
    const critical = parts[1]?.tag === Tag.BOOLEAN ? readBoolean(parts[1]) : false;
    all.set(readOid(parts[0]), { critical, value: readOctets(parts[parts.length - 1]) });
  }
  const result: CertExtensions = { all };
  const bc = all.get(OIDS.basicConstraints);
  if (bc) {
    const fields = childrenOf(parseDer(bc.value));
    result.basicConstraints = { ca: fields[0]?.tag === Tag.BOOLEAN ? readBoolean(fields[0]) : false, critical: bc.critical };
  }
  const ku = all.get(OIDS.keyUsage);
  if (ku) {
    const { bytes } = readBitString(parseDer(ku.value));
    const usages = KEY_USAGE_BITS.filter((_, bit) => ((bytes[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) !== 0);
    result.keyUsage = { usages: [...usages], critical: ku.critical };
  }
  return result;
}
