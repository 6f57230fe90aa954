// The one typed configuration every step reads.
// Sources, highest precedence first: process environment, env/local.env (untracked), env/defaults.env.
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'dotenv';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

export type KeyType = 'rsa' | 'ec';
export type ClientAuth = 'need' | 'want' | 'none';
export type ApigeeTarget = 'local' | 'apigee-x';
export type AliasFormat = 'pkcs12' | 'keycertfile';
/** Who writes server-truststore.p12: keytool (as the tutorial), node:crypto, or keytool when on PATH. */
export type TruststoreWriter = 'auto' | 'keytool' | 'node';

export interface Subject {
  C: string;
  ST: string;
  L: string;
  O: string;
  OU: string;
}

export interface Config {
  /** Where the settings came from, for messages. */
  sources: string[];
  /**
   * The settings (and LOCAL_ENV_FILE) this run's process environment set, as set: what a line for
   * the reader must carry (scripts/lib/follow-up.ts). An empty one when it hides a value of
   * env/local.env or env/defaults.env: the run took the built-in default.
   */
  given: Readonly<Record<string, string>>;
  /** The overrides file as messages name it: env/local.env, or the file LOCAL_ENV_FILE names. */
  localEnv: string;
  dryRun: boolean;
  force: boolean;
  runDir: string;
  pki: {
    serverHost: string;
    serverHostIsIp: boolean;
    extraSans: string[];
    certsDir: string;
    storePassword: string;
    keyType: KeyType;
    certDays: number;
    legacyPkcs12: boolean;
    truststoreWriter: TruststoreWriter;
    subject: Subject;
    caCn: string;
    clientCn: string;
    /** NEW_CA=1: step 10 replaces an existing CA (FORCE never does: everything issued trusts it). */
    newCa: boolean;
  };
  backend: {
    port: number;
    healthPort: number;
    clientAuth: ClientAuth;
    allowedClients: string[];
  };
  apigee: {
    target: ApigeeTarget;
    org: string;
    env: string;
    token: string | undefined;
    host: string | undefined;
    localApiPort: number;
    localRuntimePort: number;
    /** The stand-in's saved state (APIGEE_LOCAL_DIR); RUN_DIR/apigee-local unless set. */
    localDir: string;
    /** Fixed bearer token the local stand-in accepts; unset = any non-empty token. */
    localToken: string | undefined;
    /** Delay before a configuration change reaches the stand-in's runtime (Apigee X propagates asynchronously). */
    localPropagationMs: number;
    /** Host names the stand-in's management API answers besides the loopback ones (DNS rebinding guard). */
    localAllowedHosts: string[];
    /** The stand-in refuses what Apigee X is not known to accept (e.g. AES-encrypted PKCS#12 uploads). */
    localStrict: boolean;
    /** Largest request or response body the stand-in's runtime relays (Apigee's non-streamed payload limit). */
    localPayloadLimit: number;
    proxyName: string;
    keystore: string;
    truststore: string;
    keyAlias: string;
    trustAlias: string;
    targetServer: string;
    useReferences: boolean;
    keystoreRef: string;
    truststoreRef: string;
    aliasFormat: AliasFormat;
    /** True when APIGEE_ALIAS_FORMAT was set; otherwise the format is the target's default. */
    aliasFormatChosen: boolean;
    /** Management API base URL (APIGEE_API_BASE), e.g. a data-residency host; undefined = by target. */
    apiBase: string | undefined;
    /** How long calls that judge the gateway wait for a configuration change to reach the runtime. */
    propagationTimeoutMs: number;
    /** How long one management call waits for its answer (APIGEE_API_TIMEOUT; uploads twice as long). */
    apiTimeoutMs: number;
    /**
     * How long one call through the gateway waits (APIGEE_GATEWAY_TIMEOUT): longer than Apigee's
     * own 55 s target timeout, so a slow backend shows as Apigee's 504, not as our cut.
     */
    gatewayTimeoutMs: number;
  };
  gcp: {
    project: string | undefined;
    zone: string;
    region: string;
    vmName: string;
    machineType: string;
    networkTag: string;
    firewallRule: string;
    addressName: string;
    sourceRanges: string[];
    k8sNamespace: string;
    k8sImage: string | undefined;
    network: string;
    imageFamily: string;
    imageProject: string;
    /** Node.js release the VM's startup script installs from the official tarball. */
    vmNodeVersion: string;
    /** Wait for the VM's backend to answer the mTLS check (WAIT=0 skips). */
    wait: boolean;
    waitTimeoutSeconds: number;
    /** Teardown confirmed up front (YES=1 or --yes). */
    yes: boolean;
    /** How `make k8s` builds the image: Cloud Build, local docker, or not at all (K8S_IMAGE exists). */
    k8sBuild: 'cloudbuild' | 'docker' | 'none';
    /** Reach the VM's SSH through Identity-Aware Proxy (no public port 22 needed). */
    sshIap: boolean;
  };
}

type Env = Record<string, string | undefined>;

/**
 * The untracked overrides file: env/local.env, or the file LOCAL_ENV_FILE names (read from the
 * process environment only; the test suite points it away so a user's own file changes no test).
 */
export function localEnvFile(processEnv: Env = process.env, root = repoRoot): string {
  return processEnv.LOCAL_ENV_FILE?.trim() || join(root, 'env', 'local.env');
}

/** The overrides file as messages name it: relative to the repository when inside it (env/local.env), else absolute. */
export function localEnvName(processEnv: Env = process.env, root = repoRoot): string {
  const file = resolve(localEnvFile(processEnv, root));
  const rel = relative(root, file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/**
 * Reads env files and the process environment into one flat map (process env wins), and the names
 * env/local.env sets (checked against the settings the kit reads: a typo there changes nothing).
 */
export function readEnv(processEnv: Env = process.env, root = repoRoot): { env: Env; files: Env; sources: string[]; localNames: string[]; localText: string } {
  const sources: string[] = [];
  const layers: Env[] = [];
  let localNames: string[] = [];
  let localText = '';
  const files = [{ name: 'env/defaults.env', file: join(root, 'env', 'defaults.env'), local: false },
    { name: localEnvName(processEnv, root), file: localEnvFile(processEnv, root), local: true }];
  for (const { name, file, local } of files) {
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8');
      layers.push(parse(text));
      sources.push(name);
      if (local) [localNames, localText] = [Object.keys(layers.at(-1)!), text];
    }
  }
  return { env: Object.assign({}, ...layers, processEnv), files: Object.assign({}, ...layers), sources, localNames, localText };
}

/**
 * dotenv skips a line it cannot read (BACKEND_PORT 31443, Windows' set NAME=… or PowerShell's
 * $env:NAME=…) and ends an unquoted value at its first # (STORE_PASSWORD=ab#c reads "ab"), where
 * bash keeps it: either would leave a wrong value unnoticed. Both stop the step; the line itself is
 * never shown (it may hold a password). CRLF, a BOM, export, quotes and spaces are dotenv's to read.
 */
function checkEnvLines(text: string, file: string): void {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    if (/^\s*(#|$)/.test(lines[i]!)) continue;
    const line = /^\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*|:\s+)(.*)$/.exec(lines[i]!);
    if (!line) {
      throw new ConfigError(`${file} line ${i + 1}`, 'is not NAME=value (one setting a line, e.g. BACKEND_PORT=8443; export, quotes and # comment lines are fine)');
    }
    const [name, value] = [line[1]!, line[2]!];
    const quote = value[0];
    if (quote === '"' || quote === "'" || quote === '`') {
      // A quoted value may go on over the next lines, up to its closing quote; dotenv reads an
      // unclosed one as a plain value.
      const closing = new RegExp(quote === '"' ? '(^|[^\\\\])"' : quote);
      let end = closing.test(value.slice(1)) ? i : -1;
      for (let j = i + 1; end < 0 && j < lines.length; j++) if (closing.test(lines[j]!)) end = j;
      if (end >= 0) {
        i = end;
        continue;
      }
    }
    if (/[^\s#]#/.test(value)) {
      throw new ConfigError(name, `has a # inside its unquoted value in ${file}, where a # starts a comment and the value would end: quote the value ('…') if the # belongs to it, or put a space before the comment`);
    }
  }
}

/** Levenshtein distance, to suggest the setting a mistyped name meant. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** PORT, SERVER_SSL_KEYSTORE…: what backend/settings.ts reads from its own environment (docs/backend.md). */
export function isBackendVariable(name: string): boolean {
  return name === 'PORT' || name === 'HEALTH_PORT' || name.startsWith('SERVER_') || /^(HANDSHAKE|HEADERS|REQUEST|IDLE|SHUTDOWN)_TIMEOUT_MS$|^RELOAD_/.test(name);
}

/**
 * A name in env/local.env that no setting reads stops the step: the kit would silently use the
 * default (BACKEND_PORTT=9443 leaves the port at 8443), and the file reaches no other program.
 */
function checkLocalNames(localNames: readonly string[], known: ReadonlySet<string>, file: string): void {
  for (const name of localNames) {
    if (known.has(name)) continue;
    const closest = [...known].map((k) => [k, editDistance(name, k)] as const).sort((x, y) => x[1] - y[1])[0];
    if (isBackendVariable(name)) {
      throw new ConfigError(name, `is a variable of the backend process (Spring's name), read from the environment only: give it on the command line (${name}=… make backend), or set the kit's own setting in ${file} (BACKEND_PORT, STORE_PASSWORD, CERTS_DIR, BACKEND_CLIENT_AUTH; see env/defaults.env)`);
    }
    const hint = closest && closest[1] <= 3 ? `did you mean ${closest[0]}? ` : '';
    throw new ConfigError(name, `is set in ${file}, but no setting has that name (${hint}the settings are listed in env/defaults.env and env/gcp.example.env)`);
  }
}

/** A host as it goes into a URL: an IPv6 address in brackets. */
export function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;
export function isDnsName(value: string): boolean {
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  // A name made only of digits and dots is a malformed IP, not a host name.
  if (labels.every((l) => /^\d+$/.test(l))) return false;
  return labels.every((l) => DNS_LABEL.test(l));
}

// Apigee's resource name patterns (reference/apigee-x.md §6.10).
const APIGEE_NAME = /^[\w .-]{1,255}$/;
// Compute Engine resource names (RFC 1035 labels) and project IDs, checked here so a typo fails
// before gcloud runs (a project ID with capitals is refused by the API only after a slow round trip).
const GCE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
// Older projects may carry a domain: example.com:my-project.
const PROJECT_ID = /^([a-z0-9.-]+:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$/;
const APIGEE_PROXY_NAME = /^[A-Za-z0-9._-]{1,255}$/;

class Reader {
  /** Every setting asked for, to tell env/local.env's typos from settings. */
  readonly asked = new Set<string>();
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    this.asked.add(name);
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }
  str(name: string, fallback?: string): string {
    const v = this.raw(name) ?? fallback;
    if (v === undefined) throw new ConfigError(name, 'is required but empty');
    return v;
  }
  secret(name: string): string {
    // Passwords keep their exact bytes (no trimming) but may not be empty.
    this.asked.add(name);
    const v = this.env[name];
    if (v === undefined || v === '') throw new ConfigError(name, 'must not be empty (keystores need a password)');
    return v;
  }
  /** A token kept byte for byte; empty or unset is none. */
  secretOrNone(name: string): string | undefined {
    this.asked.add(name);
    return this.env[name] || undefined;
  }
  int(name: string, fallback: number, min: number, max: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got "${v}"`);
    }
    return Number(v);
  }
  bool(name: string, fallback = false): boolean {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    throw new ConfigError(name, `must be 1 or 0 (true/false), got "${v}"`);
  }
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.raw(name)?.toLowerCase() ?? fallback;
    if (!(allowed as readonly string[]).includes(v)) {
      throw new ConfigError(name, `must be one of ${allowed.join('|')}, got "${v}"`);
    }
    return v as T;
  }
  list(name: string): string[] {
    return (this.raw(name) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  }
  host(name: string, fallback?: string): string {
    const v = this.str(name, fallback);
    if (!isIP(v) && !isDnsName(v)) throw new ConfigError(name, `must be an IP address or a DNS name, got "${v}"`);
    return v;
  }
  /** An https URL without query or credentials; http only on loopback (the local stand-in). */
  apiBase(name: string): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      throw new ConfigError(name, `must be a URL like https://eu-apigee.googleapis.com/v1, got "${v}"`);
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const loopback = host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
      throw new ConfigError(name, `must be an https URL (http only for a loopback address), got "${v}"`);
    }
    if (url.username || url.password || url.search || url.hash) {
      throw new ConfigError(name, `must not carry credentials, a query or a fragment, got "${v}"`);
    }
    return url.toString().replace(/\/+$/, '');
  }
  resourceName(name: string, fallback: string, pattern = APIGEE_NAME, kind = 'Apigee name'): string {
    const v = this.str(name, fallback);
    if (!pattern.test(v)) throw new ConfigError(name, `"${v}" is not a valid ${kind} (allowed: ${pattern.source})`);
    return v;
  }
  subjectField(name: string, fallback: string): string {
    const v = this.str(name, fallback);
    // "/" and "=" would break openssl's -subj syntax.
    if (/[/=\n]/.test(v)) throw new ConfigError(name, `must not contain "/", "=" or newlines, got "${v}"`);
    return v;
  }
  /** X.509 countryName is exactly two letters (ISO 3166); openssl refuses anything else mid-step. */
  countryCode(name: string, fallback: string): string {
    const v = this.str(name, fallback);
    if (!/^[A-Za-z]{2}$/.test(v)) throw new ConfigError(name, `must be a two-letter country code such as CO or ES, got "${v}"`);
    return v;
  }
}

export interface LoadOptions {
  env?: Env;
  root?: string;
  /** Command-line flags of the running script (--dry-run, --force). */
  argv?: string[];
}

export function loadConfig(options: LoadOptions = {}): Config {
  const root = options.root ?? repoRoot;
  const processEnv = options.env ?? process.env;
  const { env, files, sources, localNames, localText } = readEnv(processEnv, root);
  checkEnvLines(localText, localEnvName(processEnv, root));
  const argv = options.argv ?? process.argv.slice(2);
  const r = new Reader(env);
  const path = (name: string, fallback: string) => {
    const v = r.str(name, fallback);
    return isAbsolute(v) ? v : resolve(root, v);
  };

  const serverHost = r.host('SERVER_HOST', '127.0.0.1');
  const extraSans = r.list('EXTRA_SANS');
  for (const san of extraSans) {
    if (!isIP(san) && !isDnsName(san) && !/^\*\.[^*]+$/.test(san)) {
      throw new ConfigError('EXTRA_SANS', `"${san}" is neither an IP address nor a DNS name`);
    }
  }
  const zone = r.str('GCP_ZONE', 'us-central1-a');
  if (!/^[a-z]+-[a-z]+\d+-[a-z]$/.test(zone)) throw new ConfigError('GCP_ZONE', `must look like us-central1-a, got "${zone}"`);
  const gcpProject = r.raw('GCP_PROJECT');
  if (gcpProject !== undefined && !PROJECT_ID.test(gcpProject)) {
    throw new ConfigError('GCP_PROJECT', `"${gcpProject}" is not a project ID (6-30 lowercase letters, digits and hyphens, like my-project; \`gcloud projects list\` shows the IDs)`);
  }
  const sourceRanges = r.list('GCP_SOURCE_RANGES');
  for (const range of sourceRanges) {
    const [ip, bits, extra] = range.split('/');
    if (extra !== undefined || isIP(ip ?? '') !== 4 || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= 32))) {
      throw new ConfigError('GCP_SOURCE_RANGES', `"${range}" is not an IPv4 CIDR range like 203.0.113.0/24`);
    }
  }
  const localAllowedHosts = r.list('APIGEE_LOCAL_ALLOWED_HOSTS');
  for (const host of localAllowedHosts) {
    if (!isIP(host) && !isDnsName(host)) throw new ConfigError('APIGEE_LOCAL_ALLOWED_HOSTS', `"${host}" is neither an IP address nor a DNS name`);
  }
  const apigeeHost = r.raw('APIGEE_HOST');
  if (apigeeHost !== undefined && !isIP(apigeeHost) && !isDnsName(apigeeHost)) {
    throw new ConfigError('APIGEE_HOST', `must be a host name, got "${apigeeHost}"`);
  }

  const apigeeTarget = r.oneOf('APIGEE_TARGET', ['local', 'apigee-x'] as const, 'local');
  const localPropagationMs = r.int('APIGEE_LOCAL_PROPAGATION_MS', 0, 0, 600_000);
  // Apigee X spreads a change to its message processors within minutes (undocumented); the
  // stand-in after APIGEE_LOCAL_PROPAGATION_MS, so a little above that is enough there.
  const propagationDefaultSeconds = apigeeTarget === 'apigee-x' ? 300 : Math.ceil(localPropagationMs / 1000) + 10;
  // Apigee X's own sample uploads PEM key + certificate; the tutorial uploads its PKCS#12 file.
  const aliasFormatChosen = r.raw('APIGEE_ALIAS_FORMAT') !== undefined;

  const runDir = path('RUN_DIR', '.run');
  const config: Config = {
    sources,
    given: {},
    localEnv: localEnvName(processEnv, root),
    dryRun: r.bool('DRY_RUN') || argv.includes('--dry-run'),
    force: r.bool('FORCE') || argv.includes('--force'),
    runDir,
    pki: {
      serverHost,
      serverHostIsIp: isIP(serverHost) !== 0,
      extraSans,
      certsDir: path('CERTS_DIR', 'certs'),
      storePassword: r.secret('STORE_PASSWORD'),
      keyType: r.oneOf('KEY_TYPE', ['rsa', 'ec'] as const, 'rsa'),
      certDays: r.int('CERT_DAYS', 365, 1, 36500),
      legacyPkcs12: r.bool('PKCS12_LEGACY'),
      truststoreWriter: r.oneOf('TRUSTSTORE_WRITER', ['auto', 'keytool', 'node'] as const, 'auto'),
      subject: {
        C: r.countryCode('SUBJECT_C', 'CO'),
        ST: r.subjectField('SUBJECT_ST', 'Bogota'),
        L: r.subjectField('SUBJECT_L', 'Bogota'),
        O: r.subjectField('SUBJECT_O', 'DemomTLSCompany'),
        OU: r.subjectField('SUBJECT_OU', 'mTLS'),
      },
      caCn: r.subjectField('CA_CN', 'Demo mTLS CA'),
      clientCn: r.subjectField('CLIENT_CN', 'apigee-client'),
      newCa: r.bool('NEW_CA'),
    },
    backend: {
      port: r.int('BACKEND_PORT', 8443, 1, 65535),
      healthPort: r.int('BACKEND_HEALTH_PORT', 8081, 1, 65535),
      clientAuth: r.oneOf('BACKEND_CLIENT_AUTH', ['need', 'want', 'none'] as const, 'need'),
      allowedClients: r.list('BACKEND_ALLOWED_CLIENTS'),
    },
    apigee: {
      target: apigeeTarget,
      org: r.resourceName('APIGEE_ORG', 'demo-org', /^[a-z][a-z0-9-]{0,62}$/),
      env: r.resourceName('APIGEE_ENV', 'eval', /^[a-z][a-z0-9-]{0,62}$/),
      token: r.secretOrNone('APIGEE_TOKEN'),
      host: apigeeHost,
      localApiPort: r.int('APIGEE_LOCAL_API_PORT', 9080, 1, 65535),
      localRuntimePort: r.int('APIGEE_LOCAL_RUNTIME_PORT', 9443, 1, 65535),
      // Under RUN_DIR unless set: RUN_DIR=/tmp/r make all keeps all of its state there, and a
      // stand-in started later in another RUN_DIR gets none of its keystores back.
      localDir: path('APIGEE_LOCAL_DIR', join(runDir, 'apigee-local')),
      localToken: r.secretOrNone('APIGEE_LOCAL_TOKEN'),
      localPropagationMs,
      localAllowedHosts,
      localStrict: r.bool('APIGEE_LOCAL_STRICT'),
      localPayloadLimit: r.int('APIGEE_LOCAL_PAYLOAD_LIMIT', 10 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
      proxyName: r.resourceName('APIGEE_PROXY_NAME', 'api-mtls-test', APIGEE_PROXY_NAME),
      keystore: r.resourceName('APIGEE_KEYSTORE', 'ks-mtls-client'),
      truststore: r.resourceName('APIGEE_TRUSTSTORE', 'ts-mtls-ca'),
      keyAlias: r.resourceName('APIGEE_KEY_ALIAS', 'client'),
      trustAlias: r.resourceName('APIGEE_TRUST_ALIAS', 'ca-server'),
      targetServer: r.resourceName('APIGEE_TARGET_SERVER', 'ts-backend-mtls'),
      useReferences: r.bool('APIGEE_USE_REFERENCES', true),
      keystoreRef: r.resourceName('APIGEE_KEYSTORE_REF', 'ks-mtls-client-ref'),
      truststoreRef: r.resourceName('APIGEE_TRUSTSTORE_REF', 'ts-mtls-ca-ref'),
      aliasFormat: r.oneOf('APIGEE_ALIAS_FORMAT', ['pkcs12', 'keycertfile'] as const, apigeeTarget === 'apigee-x' ? 'keycertfile' : 'pkcs12'),
      aliasFormatChosen,
      apiBase: r.apiBase('APIGEE_API_BASE'),
      propagationTimeoutMs: r.int('APIGEE_PROPAGATION_TIMEOUT', propagationDefaultSeconds, 0, 3600) * 1000,
      apiTimeoutMs: r.int('APIGEE_API_TIMEOUT', 30, 1, 600) * 1000,
      gatewayTimeoutMs: r.int('APIGEE_GATEWAY_TIMEOUT', 60, 1, 600) * 1000,
    },
    gcp: {
      project: gcpProject,
      zone,
      region: zone.replace(/-[a-z]$/, ''),
      vmName: r.resourceName('GCP_VM_NAME', 'ms-mtls-demo', GCE_NAME, 'Compute Engine name'),
      machineType: r.str('GCP_MACHINE_TYPE', 'e2-small'),
      networkTag: r.resourceName('GCP_NETWORK_TAG', 'mtls-backend', GCE_NAME, 'Compute Engine name'),
      firewallRule: r.resourceName('GCP_FIREWALL_RULE', 'allow-mtls-8443', GCE_NAME, 'Compute Engine name'),
      addressName: r.resourceName('GCP_ADDRESS_NAME', 'ms-mtls-demo-ip', GCE_NAME, 'Compute Engine name'),
      sourceRanges: sourceRanges.length > 0 ? sourceRanges : ['0.0.0.0/0'],
      k8sNamespace: r.str('K8S_NAMESPACE', 'default'),
      k8sImage: r.raw('K8S_IMAGE'),
      network: r.resourceName('GCP_NETWORK', 'default', GCE_NAME, 'Compute Engine name'),
      imageFamily: r.resourceName('GCP_IMAGE_FAMILY', 'ubuntu-2404-lts-amd64', GCE_NAME, 'Compute Engine name'),
      imageProject: r.resourceName('GCP_IMAGE_PROJECT', 'ubuntu-os-cloud', PROJECT_ID, 'project ID'),
      vmNodeVersion: r.resourceName('VM_NODE_VERSION', '20.20.2', /^\d+\.\d+\.\d+$/, 'Node.js version'),
      wait: r.bool('WAIT', true),
      waitTimeoutSeconds: r.int('WAIT_TIMEOUT', 300, 1, 3600),
      yes: r.bool('YES') || argv.includes('--yes'),
      k8sBuild: r.oneOf('K8S_BUILD', ['cloudbuild', 'docker', 'none'] as const, 'cloudbuild'),
      sshIap: r.bool('GCP_SSH_IAP'),
    },
  };
  checkLocalNames(localNames, r.asked, config.localEnv);
  checkPortsDiffer(config);
  // The names read above, as the process environment set them; an empty one only where it hides a
  // value of the files (the run took the built-in default, a line without it would read the file's).
  const given = (name: string) => processEnv[name] !== undefined && (processEnv[name]!.trim() !== '' || (files[name] ?? '').trim() !== '');
  config.given = Object.fromEntries(['LOCAL_ENV_FILE', ...r.asked].filter(given).map((name) => [name, processEnv[name]!]));
  return config;
}

/** Ports that would be bound on this machine at once must differ ("already in use" would blame someone else). */
function checkPortsDiffer(config: Config): void {
  const ports: Array<[string, number]> = [['BACKEND_PORT', config.backend.port], ['BACKEND_HEALTH_PORT', config.backend.healthPort]];
  if (config.apigee.target === 'local') ports.push(['APIGEE_LOCAL_API_PORT', config.apigee.localApiPort], ['APIGEE_LOCAL_RUNTIME_PORT', config.apigee.localRuntimePort]);
  for (const [i, [name, port]] of ports.entries()) {
    const earlier = ports.slice(0, i).find(([, p]) => p === port);
    if (earlier) throw new ConfigError(name, `is ${port}, the same as ${earlier[0]}: each port can serve one thing`);
  }
}

/**
 * The name of every setting the kit documents: those env/defaults.env sets and those
 * env/gcp.example.env shows commented out (`# GCP_PROJECT=my-project`; dotenv skips such lines).
 */
export function settingNames(root = repoRoot): string[] {
  const defaults = Object.keys(parse(readFileSync(join(root, 'env', 'defaults.env'))));
  const examples = (readFileSync(join(root, 'env', 'gcp.example.env'), 'utf8').match(/^#\s*[A-Z][A-Z0-9_]*(?==)/gm) ?? []).map((line) => line.replace(/^#\s*/, ''));
  return [...new Set([...defaults, ...examples])];
}

/**
 * Which layer a setting's value comes from, highest first: the process environment, the untracked
 * overrides file (env/local.env, or LOCAL_ENV_FILE's), or the defaults (env/defaults.env or the
 * built-in fallback). Steps print it next to values a reader may want to change.
 */
export function settingSource(name: string, processEnv: Env = process.env, root = repoRoot): string {
  if (processEnv[name] !== undefined && processEnv[name]!.trim() !== '') return 'environment';
  const local = localEnvFile(processEnv, root);
  if (existsSync(local) && (parse(readFileSync(local))[name] ?? '').trim() !== '') return localEnvName(processEnv, root);
  return 'default';
}
