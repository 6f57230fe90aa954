// Describes an X.509 certificate for people and in the shape of Apigee's CertInfo.
//
// What comes from where. node:crypto's X509Certificate gives everything it exposes: serial
// number, validity, SHA-256 fingerprint, subject alternative names, extended key usage (its
// `keyUsage`), the public key's type and size (`publicKey.asymmetricKeyDetails`) and the
// self-signed check (checkIssued + verify). The certificate's DER, read with lib/der.ts, gives only
// what it lacks: the version; subject and issuer spelled as Go (and so Apigee) prints them (RFC 2253
// order with Go's escaping and unknown attribute types as OID=#hex, where X509Certificate prints
// OpenSSL's multi-line form in the opposite order); basicConstraints (its `ca` cannot tell CA:FALSE
// from a missing extension, and has no path length); the key usage bits; each extension's
// critical flag; and the signature algorithm, named as Go names it ("SHA256-RSA").
//
// Why hand-written: lib/ is built-ins only because the backend's distroless image carries no
// node_modules; the DER reader PKCS#12 needs anyway covers these few fields, so a second ASN.1
// library would add a dependency for one extension walk. Checked against `openssl x509` output in
// tests/lib-x509-info.test.ts.
import { X509Certificate } from 'node:crypto';
import {
  DerError,
  Tag,
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

interface CertDescription {
  version: number;
  /** RFC 2253 order (most specific first, as Go and so Apigee print it): "CN=x,O=y,C=CO". */
  subject: string;
  issuer: string;
  /** Lowercase hex bytes joined by colons, without sign padding: "9a:c1:03". */
  serialNumber: string;
  notBefore: number;
  notAfter: number;
  /** "DNS:localhost", "IP:127.0.0.1" (IPv6 compressed), "email:a@b", "URI:https://x". */
  subjectAltNames: string[];
  /** Names such as serverAuth, clientAuth; unknown purposes as dotted OIDs. */
  extendedKeyUsage: string[];
  /** undefined when the certificate has no keyUsage extension. */
  keyUsage: { usages: string[]; critical: boolean } | undefined;
  /** undefined when the certificate has no basicConstraints extension. */
  basicConstraints: { ca: boolean; pathLength?: number; critical: boolean } | undefined;
  /** "RSA Public Key, 2048 bits", "EC Public Key, 256 bits". */
  publicKey: string;
  /** Go-style signature algorithm name: "SHA256-RSA", "ECDSA-SHA256". */
  sigAlgName: string;
  selfSigned: boolean;
  fingerprint256: string;
}

/** The fields of Apigee's CertInfo (keystore alias view); times are ms since the epoch as strings. */
interface ApigeeCertInfo {
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

const OID_EXT = { basicConstraints: '2.5.29.19', keyUsage: '2.5.29.15' } as const;

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

interface Extension {
  critical: boolean;
  /** The extnValue OCTET STRING's content: the extension's own DER. */
  value: Buffer;
}

/** The parts of TBSCertificate that X509Certificate does not expose. */
interface TbsParts {
  version: number;
  subject: DerNode;
  issuer: DerNode;
  extensions: Map<string, Extension>;
  sigOid: string;
}

function readTbs(der: Buffer): TbsParts {
  const [tbs, sigAlg] = sequence(parseDer(der), 'Certificate', 3, Tag.SEQUENCE, 3);
  const fields = sequence(tbs, 'TBSCertificate', 6);
  // version is [0] EXPLICIT with DEFAULT v1, so a v1 certificate starts with the serial.
  const hasVersion = fields[0]!.tag === contextTag(0);
  const [, , issuer, , subject] = hasVersion ? fields.slice(1) : fields;
  const extensions = new Map<string, Extension>();
  const wrapper = fields.find((f) => f.tag === contextTag(3));
  for (const ext of wrapper ? sequence(explicit(wrapper, 3, 'extensions'), 'Extensions') : []) {
    // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
    const [id, ...rest] = sequence(ext, 'Extension', 2, Tag.SEQUENCE, 3);
    extensions.set(readOid(id, 'extnID'), {
      critical: rest.length === 2 ? readBoolean(rest[0], 'critical') : false,
      value: readOctets(rest.at(-1), 'extnValue'),
    });
  }
  return {
    version: hasVersion ? readSmallInt(explicit(fields[0], 0, 'version')) + 1 : 1,
    subject: subject!,
    issuer: issuer!,
    extensions,
    sigOid: readOid(sequence(sigAlg, 'signatureAlgorithm', 1)[0]),
  };
}

function basicConstraints(ext: Extension | undefined): CertDescription['basicConstraints'] {
  if (!ext) return undefined;
  const [first, second] = sequence(parseDer(ext.value), 'basicConstraints', 0, Tag.SEQUENCE, 2);
  const ca = first?.tag === Tag.BOOLEAN ? readBoolean(first) : false;
  const len = [first, second].find((n) => n?.tag === Tag.INTEGER);
  return { ca, ...(len && { pathLength: readSmallInt(len, 'pathLenConstraint') }), critical: ext.critical };
}

function keyUsage(ext: Extension | undefined): CertDescription['keyUsage'] {
  if (!ext) return undefined;
  const { bytes } = readBitString(parseDer(ext.value), 'keyUsage');
  return { usages: KEY_USAGE_BITS.filter((_, bit) => ((bytes[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) !== 0), critical: ext.critical };
}

/** node's serial ("9AC1B396", no sign byte) as Go's CertInfo prints it: "9a:c1:b3:96". */
function formatSerial(hex: string): string {
  const sign = hex.startsWith('-') ? '-' : '';
  const digits = hex.slice(sign.length).toLowerCase();
  return sign + (digits.length % 2 ? '0' + digits : digits).replace(/(..)(?!$)/g, '$1:');
}

const SAN_TYPES: Record<string, string> = { 'IP Address': 'IP', 'Registered ID': 'RID' };

/**
 * X509Certificate.subjectAltName ("DNS:a, IP Address:0:0:0:0:0:0:0:1, …"; a value with a
 * special character is a JSON string) as "DNS:a", "IP:::1" (IPv6 compressed as RFC 5952 says).
 */
function subjectAltNames(cert: X509Certificate): string[] {
  const text = cert.subjectAltName;
  if (!text) return [];
  return [...text.matchAll(/(?:^|, )([^:,]+):("(?:[^"\\]|\\.)*"|[^,]*)/g)].map(([, type, raw]) => {
    const value: string = raw!.startsWith('"') ? JSON.parse(raw!) : raw!;
    const name = SAN_TYPES[type!] ?? type!;
    // The URL parser writes IPv6 the RFC 5952 way: lowercase, the longest zero run as "::".
    return name === 'IP' && value.includes(':') ? `IP:${new URL(`http://[${value}]/`).hostname.slice(1, -1)}` : `${name}:${value}`;
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
  const tbs = readTbs(cert.raw);
  return {
    version: tbs.version,
    subject: formatName(tbs.subject),
    issuer: formatName(tbs.issuer),
    serialNumber: formatSerial(cert.serialNumber),
    notBefore: Date.parse(cert.validFrom),
    notAfter: Date.parse(cert.validTo),
    subjectAltNames: subjectAltNames(cert),
    extendedKeyUsage: (cert.keyUsage ?? []).map((oid) => EKU_NAMES[oid] ?? oid),
    keyUsage: keyUsage(tbs.extensions.get(OID_EXT.keyUsage)),
    basicConstraints: basicConstraints(tbs.extensions.get(OID_EXT.basicConstraints)),
    publicKey: publicKeyText(cert),
    sigAlgName: SIG_ALGS[tbs.sigOid] ?? tbs.sigOid,
    selfSigned: cert.checkIssued(cert) && cert.verify(cert.publicKey),
    fingerprint256: cert.fingerprint256,
  };
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
    basicConstraints: d.basicConstraints?.ca ? 'CA:TRUE' : 'CA:FALSE',
    serialNumber: d.serialNumber,
  };
}
