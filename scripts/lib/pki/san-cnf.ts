// san.cnf (tutorial step 3), written from the configuration instead of edited by hand.
// [req_ext] is what the CSR asks for; [server_ext] is what the CA signs: the same usages plus the
// authority key identifier, which only exists once there is an issuer.
import { isIP } from 'node:net';
import type { KeyType, Subject } from '../../../core/config.ts';
import { leafKeyUsage } from './values.ts';

const SERVER_EXT_SECTION = 'server_ext';

interface SanList { ips: string[]; dns: string[] }

/** SERVER_HOST first, then EXTRA_SANS, split into IP and DNS entries without duplicates. */
function serverSans(serverHost: string, extraSans: readonly string[]): SanList {
  const ips: string[] = [];
  const dns: string[] = [];
  for (const name of [serverHost, ...extraSans]) {
    const list = isIP(name) ? ips : dns;
    const value = isIP(name) ? name : name.toLowerCase();
    if (!list.includes(value)) list.push(value);
  }
  return { ips, dns };
}

/**
 * A value in an OpenSSL config file: "#" starts a comment, "$" a variable, quotes and "\" are
 * syntax; each is escaped so "O'Brien #1" reaches the certificate as written.
 */
function cnfValue(value: string): string {
  return value.replace(/[\\"'#$]/g, '\\$&');
}

export function sanCnf(o: { subject: Subject; serverHost: string; extraSans: readonly string[]; keyType: KeyType }): string {
  const { ips, dns } = serverSans(o.serverHost, o.extraSans);
  const usages = [
    'subjectAltName = @alt_names',
    'basicConstraints = critical, CA:FALSE',
    `keyUsage = ${leafKeyUsage(o.keyType).replace(/,/g, ', ')}`,
    'extendedKeyUsage = serverAuth',
    'subjectKeyIdentifier = hash',
  ];
  return [
    '# Server certificate request and extensions (tutorial step 3), generated from the configuration.',
    '[ req ]',
    'prompt = no',
    'utf8 = yes',
    'distinguished_name = req_distinguished_name',
    'req_extensions = req_ext',
    '',
    '[ req_distinguished_name ]',
    `C = ${cnfValue(o.subject.C)}`,
    `ST = ${cnfValue(o.subject.ST)}`,
    `L = ${cnfValue(o.subject.L)}`,
    `O = ${cnfValue(o.subject.O)}`,
    `OU = ${cnfValue(o.subject.OU)}`,
    `CN = ${o.serverHost}`,
    '',
    '[ req_ext ]',
    ...usages,
    '',
    `[ ${SERVER_EXT_SECTION} ]`,
    ...usages,
    'authorityKeyIdentifier = keyid',
    '',
    '[ alt_names ]',
    ...ips.map((ip, i) => `IP.${i + 1} = ${ip}`),
    ...dns.map((name, i) => `DNS.${i + 1} = ${name}`),
    '',
  ].join('\n');
}
