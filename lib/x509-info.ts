// Describes an X.509 certificate for people and in the shape of Apigee's CertInfo. Everything
// node:crypto does not expose (or prints differently from Apigee, which is written in Go) is read
// from the certificate's DER with lib/der.ts: names, serial, validity, extensions, algorithms.
import { X509Certificate } from 'node:crypto';
import {
  DerError,
  Tag,
  childrenOf,
  contextTag,
  explicit,
  parseDer,
  readBitString,
  readBoolean,
  readOctets,
  readOid,
  readSmallInt,
  sequence,
  type DerNode,
} from './der.ts';

export interface CertDescription {
  version: number;
  /** RFC 2253 order (most specific first, as Go and so Apigee print it): "CN=x,O=y,C=CO". */
  subject: string;
  issuer: string;
  /** Lowercase hex bytes joined by colons, without sign padding: "9a:c1:03". */
  serialNumber: string;
  notBefore: number;
  notAfter: number;
  /** "DNS:localhost", "IP:127.0.0.1", "email:a@b", "URI:https://x". */
  subjectAltNames: string[];
  /** Names such as serverAuth, clientAuth; unknown purposes as dotted OIDs. */
  extendedKeyUsage: string[];
  keyUsage: string[];
  /** undefined when the certificate has no basicConstraints extension. */
  ca: boolean | undefined;
  pathLength: number | undefined;
  /** "RSA Public Key, 2048 bits", "EC Public Key, 256 bits". */
  publicKey: string;
  /** Go-style signature algorithm name: "SHA256-RSA", "ECDSA-SHA256". */
  sigAlgName: string;
  selfSigned: boolean;
  fingerprint256: string;
}

/** The fields of Apigee's CertInfo (keystore alias view); times are ms since the epoch as strings. */
export interface ApigeeCertInfo {
  version: number;
  subject: string;
  issuer: string;
  expiryDate: string;
  validFrom: string;
  isValid: 'Yes' | 'No' | 'Not yet';
  subjectAlternativeNames?: string[];
  sigAlgName: string;
  publicKey: string;
  basicConstraints: 'CA:TRUE' | 'CA:FALSE';
  serialNumber: string;
}

const NAME_TYPES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.17': 'POSTALCODE',
};

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

const KEY_USAGE_BITS = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'];

const SIG_ALGS: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'MD5-RSA',
  '1.2.840.113549.1.1.5': 'SHA1-RSA',
  '1.2.840.113549.1.1.11': 'SHA256-RSA',
  '1.2.840.113549.1.1.12': 'SHA384-RSA',
  '1.2.840.113549.1.1.13': 'SHA512-RSA',
  '1.2.840.113549.1.1.10': 'SHA256-RSAPSS',
  '1.2.840.10045.4.1': 'ECDSA-SHA1',
  '1.2.840.10045.4.3.2': 'ECDSA-SHA256',
  '1.2.840.10045.4.3.3': 'ECDSA-SHA384',
  '1.2.840.10045.4.3.4': 'ECDSA-SHA512',
  '1.3.101.112': 'Ed25519',
};

const CURVE_BITS: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };

const OID_EXT = { subjectAltName: '2.5.29.17', basicConstraints: '2.5.29.19', keyUsage: '2.5.29.15', extKeyUsage: '2.5.29.37' } as const;

/** Go's escaping of a name value: specials anywhere, a leading '#' or space, a trailing space. */
function escapeValue(s: string): string {
  return [...s]
    .map((ch, i, all) => (',+"\\<>;'.includes(ch) || (ch === ' ' && (i === 0 || i === all.length - 1)) || (ch === '#' && i === 0) ? '\\' + ch : ch))
    .join('');
}

function stringValue(node: DerNode): string | undefined {
  switch (node.tag) {
    case Tag.UTF8_STRING:
    case Tag.PRINTABLE_STRING:
    case Tag.IA5_STRING:
      return node.content.toString('utf8');
    case 0x14: // TeletexString, in practice Latin-1
      return node.content.toString('latin1');
    case Tag.BMP_STRING:
      return Buffer.from(node.content).swap16().toString('utf16le');
    default:
      return undefined;
  }
}

/** Name ::= SEQUENCE OF RDN; printed last RDN first, multi-valued RDNs joined by "+". */
function formatName(node: DerNode): string {
  return sequence(node, 'Name')
    .map((rdn) =>
      sequence(rdn, 'RDN', 1, Tag.SET)
        .map((atv) => {
          const [type, value] = sequence(atv, 'AttributeTypeAndValue', 2);
          const oid = readOid(type);
          const text = stringValue(value);
          const short = NAME_TYPES[oid];
          return short && text !== undefined ? `${short}=${escapeValue(text)}` : `${oid}=#${value.raw.toString('hex')}`;
        })
        .join('+'),
    )
    .reverse()
    .join(',');
}

function readTime(node: DerNode): number {
  const s = node.content.toString('latin1');
  const m = node.tag === Tag.UTC_TIME ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : node.tag === Tag.GENERALIZED_TIME ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : null;
  if (!m) throw new DerError(`unsupported time value "${s}"`);
  let year = Number(m[1]);
  if (node.tag === Tag.UTC_TIME) year += year >= 50 ? 1900 : 2000;
  return Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

function formatIp(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  if (b.length === 16) {
    const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16));
    // RFC 5952: the longest run (two or more) of zero groups becomes "::".
    let best = { start: -1, len: 1 };
    for (let i = 0; i < 8; ) {
      let j = i;
      while (j < 8 && groups[j] === '0') j++;
      if (j - i > best.len) best = { start: i, len: j - i };
      i = j === i ? i + 1 : j;
    }
    if (best.start < 0) return groups.join(':');
    return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.len).join(':')}`;
  }
  return `#${b.toString('hex')}`;
}

function subjectAltNames(value: Buffer): string[] {
  return sequence(parseDer(value), 'subjectAltName').map((name) => {
    switch (name.tag) {
      case contextTag(1, false):
        return `email:${name.content.toString('latin1')}`;
      case contextTag(2, false):
        return `DNS:${name.content.toString('latin1')}`;
      case contextTag(6, false):
        return `URI:${name.content.toString('latin1')}`;
      case contextTag(7, false):
        return `IP:${formatIp(name.content)}`;
      case contextTag(4, true):
        return `DirName:${formatName(childrenOf(name)[0])}`;
      default:
        return `othername:[${name.tag & 0x1f}]`;
    }
  });
}

function publicKeyText(cert: X509Certificate): string {
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return `RSA Public Key, ${details.modulusLength} bits`;
    case 'ec':
      return `EC Public Key, ${CURVE_BITS[details.namedCurve ?? ''] ?? '?'} bits`;
    case 'ed25519':
      return 'Ed25519 Public Key, 256 bits';
    default:
      return `${String(key.asymmetricKeyType).toUpperCase()} Public Key`;
  }
}

function toCertificate(input: X509Certificate | string | Buffer): X509Certificate {
  if (input instanceof X509Certificate) return input;
  try {
    return new X509Certificate(input);
  } catch (e) {
    throw new DerError(`not an X.509 certificate: ${(e as Error).message}`);
  }
}

/** Everything worth showing about a certificate (PEM, DER or X509Certificate). Throws DerError when it is not one. */
export function describeCertificate(input: X509Certificate | string | Buffer): CertDescription {
  const cert = toCertificate(input);
  const [tbs, sigAlg] = sequence(parseDer(cert.raw), 'Certificate', 3);
  const fields = sequence(tbs, 'TBSCertificate', 6);
  // version is [0] EXPLICIT with DEFAULT v1, so a v1 certificate starts with the serial.
  const hasVersion = fields[0].tag === contextTag(0);
  const version = hasVersion ? readSmallInt(explicit(fields[0], 0, 'version')) + 1 : 1;
  const [serial, , issuer, validity, subject] = hasVersion ? fields.slice(1) : fields;
  const [notBefore, notAfter] = sequence(validity, 'Validity', 2);
  const extWrapper = fields.find((f) => f.tag === contextTag(3));
  const extensions = new Map<string, Buffer>();
  for (const ext of extWrapper ? sequence(explicit(extWrapper, 3, 'extensions'), 'Extensions') : []) {
    const parts = sequence(ext, 'Extension', 2);
    extensions.set(readOid(parts[0]), readOctets(parts[parts.length - 1], 'extension value'));
  }

  let ca: boolean | undefined;
  let pathLength: number | undefined;
  const bc = extensions.get(OID_EXT.basicConstraints);
  if (bc) {
    const items = sequence(parseDer(bc), 'basicConstraints');
    ca = items[0]?.tag === Tag.BOOLEAN ? readBoolean(items[0]) : false;
    const len = items.find((i) => i.tag === Tag.INTEGER);
    pathLength = len ? readSmallInt(len) : undefined;
  }
  const ku = extensions.get(OID_EXT.keyUsage);
  const kuBytes = ku ? readBitString(parseDer(ku)).bytes : Buffer.alloc(0);
  const eku = extensions.get(OID_EXT.extKeyUsage);
  const san = extensions.get(OID_EXT.subjectAltName);

  const serialBytes = readSerial(serial);
  const sigOid = readOid(sequence(sigAlg, 'signatureAlgorithm', 1)[0]);
  return {
    version,
    subject: formatName(subject),
    issuer: formatName(issuer),
    serialNumber: [...serialBytes].map((b) => b.toString(16).padStart(2, '0')).join(':'),
    notBefore: readTime(notBefore),
    notAfter: readTime(notAfter),
    subjectAltNames: san ? subjectAltNames(san) : [],
    extendedKeyUsage: eku ? sequence(parseDer(eku), 'extKeyUsage').map((o) => EKU_NAMES[readOid(o)] ?? readOid(o)) : [],
    keyUsage: KEY_USAGE_BITS.filter((_, bit) => ((kuBytes[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) !== 0),
    ca,
    pathLength,
    publicKey: publicKeyText(cert),
    sigAlgName: SIG_ALGS[sigOid] ?? sigOid,
    selfSigned: cert.checkIssued(cert) && cert.verify(cert.publicKey),
    fingerprint256: cert.fingerprint256,
  };
}

/** Serial magnitude bytes, without the zero byte DER adds to keep the number positive. */
function readSerial(node: DerNode): Buffer {
  const c = node.tag === Tag.INTEGER ? node.content : Buffer.alloc(0);
  if (c.length === 0) throw new DerError('serialNumber: expected an INTEGER');
  let start = 0;
  while (start < c.length - 1 && c[start] === 0) start++;
  return c.subarray(start);
}

/** The certificate as Apigee's keystore API reports it (certsInfo.certInfo[]). */
export function apigeeCertInfo(input: X509Certificate | string | Buffer, now = Date.now()): ApigeeCertInfo {
  const d = describeCertificate(input);
  const sans = d.subjectAltNames.map((s) => s.replace(/^(DNS|IP|email|URI):/, ''));
  return {
    version: d.version,
    subject: d.subject,
    issuer: d.issuer,
    expiryDate: String(d.notAfter),
    validFrom: String(d.notBefore),
    isValid: now < d.notBefore ? 'Not yet' : now > d.notAfter ? 'No' : 'Yes',
    ...(sans.length > 0 && { subjectAlternativeNames: sans }),
    sigAlgName: d.sigAlgName,
    publicKey: d.publicKey,
    basicConstraints: d.ca ? 'CA:TRUE' : 'CA:FALSE',
    serialNumber: d.serialNumber,
  };
}

/** A few aligned lines for terminal output. */
export function formatCertificate(input: X509Certificate | string | Buffer | CertDescription): string {
  const d = typeof input === 'object' && 'sigAlgName' in input ? input : describeCertificate(input);
  const rows: Array<[string, string | undefined]> = [
    ['subject', d.subject],
    ['issuer', d.selfSigned ? `${d.issuer} (self-signed)` : d.issuer],
    ['serial', d.serialNumber],
    ['valid', `${new Date(d.notBefore).toISOString()} → ${new Date(d.notAfter).toISOString()}`],
    ['SAN', d.subjectAltNames.join(', ') || undefined],
    ['key', d.publicKey],
    ['signature', d.sigAlgName],
    ['CA', d.ca === undefined ? 'no basicConstraints' : `CA:${d.ca ? 'TRUE' : 'FALSE'}${d.pathLength !== undefined ? `, pathlen:${d.pathLength}` : ''}`],
    ['key usage', d.keyUsage.join(', ') || undefined],
    ['ext key usage', d.extendedKeyUsage.join(', ') || undefined],
    ['SHA-256', d.fingerprint256],
  ];
  return rows
    .filter((r): r is [string, string] => r[1] !== undefined)
    .map(([k, v]) => `${k.padEnd(13)} ${v}`)
    .join('\n');
}
