// The backend's settings, read from the environment in Spring Boot's relaxed form
// (server.ssl.key-store → SERVER_SSL_KEYSTORE) so the tutorial's application.properties map 1:1.
// Only node: built-ins here: the backend runs without node_modules.
import { isAbsolute, join, resolve } from 'node:path';

export type ClientAuth = 'need' | 'want' | 'none';
export type TrustStoreType = 'PKCS12' | 'PEM';

export interface BackendSettings {
  /** TLS port; 0 picks a free one. */
  port: number;
  /** Plain-HTTP health port; 0 picks a free one. */
  healthPort: number;
  /** Bind address; undefined = every interface (Spring's default). */
  address: string | undefined;
  keyStore: string;
  keyStorePassword: string;
  keyAlias: string | undefined;
  trustStore: string;
  trustStorePassword: string | undefined;
  /** undefined = decided from the file's content. */
  trustStoreType: TrustStoreType | undefined;
  clientAuth: ClientAuth;
  /** Subject attributes like "CN=apigee-client"; a client matching any entry is let in. Empty = all trusted clients. */
  allowedClients: string[];
  handshakeTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  shutdownTimeoutMs: number;
  /** Watch the store files and reload them when they change. */
  reload: boolean;
  reloadDebounceMs: number;
  /** Spring server.ssl.* variables that are set but not implemented here (logged at start). */
  ignored: string[];
}

export class SettingsError extends Error {
  override name = 'SettingsError';
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
  }
}

type Env = Record<string, string | undefined>;

function text(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function whole(env: Env, name: string, fallback: number, min: number, max: number): number {
  const v = text(env, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new SettingsError(name, `must be a whole number from ${min} to ${max}, got "${v}"`);
  }
  return Number(v);
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const v = text(env, name)?.toLowerCase();
  if (v === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new SettingsError(name, `must be true or false, got "${v}"`);
}

/**
 * A store location as Spring accepts it: a plain path, "file:path", or "classpath:name" (which has
 * no meaning outside a jar, so it is looked up in CERTS_DIR where `make certs` writes the stores).
 */
function storePath(value: string, certsDir: string): string {
  if (value.startsWith('classpath:')) return join(certsDir, value.slice('classpath:'.length).replace(/^\/+/, ''));
  const path = value.startsWith('file:') ? value.slice('file:'.length) : value;
  return isAbsolute(path) ? path : resolve(path);
}

/** Parses the allow-list: comma separated ATTRIBUTE=value entries, e.g. "CN=apigee-client,CN=batch-job". */
function parseAllowList(value: string | undefined, variable = 'SERVER_SSL_ALLOWEDCLIENTS'): string[] {
  const entries = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const entry of entries) {
    if (!/^[A-Za-z][A-Za-z0-9.]*=.+$/.test(entry)) {
      throw new SettingsError(variable, `"${entry}" is not an ATTRIBUTE=value entry like CN=apigee-client`);
    }
  }
  return entries;
}

/** The Spring Boot variables (server.* in relaxed form) this backend reads. */
const SPRING_VARIABLES = [
  'SERVER_PORT', 'SERVER_ADDRESS', 'SERVER_SSL_CLIENTAUTH', 'SERVER_SSL_KEYSTORE', 'SERVER_SSL_KEYSTOREPASSWORD',
  'SERVER_SSL_KEYSTORETYPE', 'SERVER_SSL_KEYALIAS', 'SERVER_SSL_TRUSTSTORE', 'SERVER_SSL_TRUSTSTOREPASSWORD',
  'SERVER_SSL_TRUSTSTORETYPE', 'SERVER_SSL_ALLOWEDCLIENTS',
] as const;

/**
 * Spring's server.ssl.* settings that are set but that this backend does not implement (e.g.
 * SERVER_SSL_ENABLED, SERVER_SSL_PROTOCOL): it always serves TLS 1.2 or later with its defaults.
 * Returned so they can be reported instead of silently ignored.
 */
export function ignoredSpringVariables(env: Env = process.env): string[] {
  const known = new Set<string>(SPRING_VARIABLES);
  return Object.keys(env).filter((name) => name.startsWith('SERVER_SSL_') && !known.has(name) && text(env, name) !== undefined).sort();
}

export function settingsFromEnv(env: Env = process.env): BackendSettings {
  const certsDir = resolve(text(env, 'CERTS_DIR') ?? 'certs');
  const clientAuth = (text(env, 'SERVER_SSL_CLIENTAUTH') ?? 'need').toLowerCase();
  if (clientAuth !== 'need' && clientAuth !== 'want' && clientAuth !== 'none') {
    throw new SettingsError('SERVER_SSL_CLIENTAUTH', `must be need, want or none, got "${clientAuth}"`);
  }
  const keyStoreType = (text(env, 'SERVER_SSL_KEYSTORETYPE') ?? 'PKCS12').toUpperCase();
  if (keyStoreType !== 'PKCS12') {
    throw new SettingsError('SERVER_SSL_KEYSTORETYPE', `only PKCS12 is supported, got "${keyStoreType}" (convert with keytool -importkeystore -deststoretype PKCS12)`);
  }
  const trustType = text(env, 'SERVER_SSL_TRUSTSTORETYPE')?.toUpperCase();
  if (trustType !== undefined && trustType !== 'PKCS12' && trustType !== 'PEM') {
    throw new SettingsError('SERVER_SSL_TRUSTSTORETYPE', `must be PKCS12 or PEM, got "${trustType}"`);
  }
  // Passwords keep their exact bytes; a keystore always needs one.
  const keyStorePassword = env.SERVER_SSL_KEYSTOREPASSWORD;
  if (keyStorePassword === undefined || keyStorePassword === '') {
    throw new SettingsError('SERVER_SSL_KEYSTOREPASSWORD', 'is not set (the password of the server keystore)');
  }
  const trustStorePassword = env.SERVER_SSL_TRUSTSTOREPASSWORD === '' ? undefined : env.SERVER_SSL_TRUSTSTOREPASSWORD;
  return {
    // Spring's own server.port wins over PORT, which the tutorial's properties use as server.port=${PORT:8443}.
    port: text(env, 'SERVER_PORT') !== undefined ? whole(env, 'SERVER_PORT', 8443, 0, 65535) : whole(env, 'PORT', 8443, 0, 65535),
    healthPort: whole(env, 'HEALTH_PORT', 8081, 0, 65535),
    address: text(env, 'SERVER_ADDRESS'),
    keyStore: storePath(text(env, 'SERVER_SSL_KEYSTORE') ?? join(certsDir, 'server-keystore.p12'), certsDir),
    keyStorePassword,
    keyAlias: text(env, 'SERVER_SSL_KEYALIAS'),
    trustStore: storePath(text(env, 'SERVER_SSL_TRUSTSTORE') ?? join(certsDir, 'server-truststore.p12'), certsDir),
    trustStorePassword,
    trustStoreType: trustType as TrustStoreType | undefined,
    clientAuth,
    allowedClients: parseAllowList(text(env, 'SERVER_SSL_ALLOWEDCLIENTS')),
    handshakeTimeoutMs: whole(env, 'HANDSHAKE_TIMEOUT_MS', 10_000, 100, 600_000),
    headersTimeoutMs: whole(env, 'HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    requestTimeoutMs: whole(env, 'REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
    idleTimeoutMs: whole(env, 'IDLE_TIMEOUT_MS', 60_000, 100, 3_600_000),
    shutdownTimeoutMs: whole(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    reload: flag(env, 'RELOAD_STORES', true),
    reloadDebounceMs: whole(env, 'RELOAD_DEBOUNCE_MS', 300, 0, 60_000),
    ignored: ignoredSpringVariables(env),
  };
}
