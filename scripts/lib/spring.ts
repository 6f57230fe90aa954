// The tutorial's application.properties as the environment variables Spring Boot reads for them
// (relaxed binding: server.ssl.key-store → SERVER_SSL_KEYSTORE), for scripts/20-backend.ts. As
// with Spring Boot, a variable already in the environment wins over the kit's setting that would
// feed it, and each value is printed with where it came from.
import { settingSource } from '../../core/config.ts';
import { addSecret, log, secretVariable, shellQuote } from '../../core/log.ts';
import { ignoredSpringVariables } from '../../backend/settings.ts';

type Env = Record<string, string | undefined>;

export interface SpringProperty {
  /** As application.properties names it, e.g. server.ssl.key-store. */
  property: string;
  /** The environment variable the backend reads, e.g. SERVER_SSL_KEYSTORE. */
  variable: string;
  value: string;
  /** "environment", "default (BACKEND_PORT)", "env/local.env (CERTS_DIR)" (or the file LOCAL_ENV_FILE names), "default" (the tutorial's). */
  source: string;
  /** The kit's setting the value comes from, when the environment does not give it. */
  kitVariable?: string;
}

const given = (env: Env, variable: string) => env[variable]?.trim() || undefined;

/**
 * One line of application.properties: the value of `variable` when the environment sets it, else
 * `kitValue`, from the kit's setting `kitVariable` (none: the tutorial's own value). A password
 * given in the environment is printed as that variable, never as its value.
 */
export function springProperty(property: string, variable: string, kitValue: string, kitVariable?: string, env: Env = process.env): SpringProperty {
  const fromEnv = given(env, variable);
  if (fromEnv === undefined) return { property, variable, value: kitValue, source: kitVariable ? `${settingSource(kitVariable, env)} (${kitVariable})` : 'default', kitVariable };
  if (variable.endsWith('PASSWORD')) addSecret(fromEnv, variable);
  return { property, variable, value: fromEnv, source: 'environment' };
}

/** server.port=${PORT:8443}, where Spring's own SERVER_PORT wins over PORT. */
export function serverPort(kitPort: number, env: Env = process.env): SpringProperty {
  const fromServerPort = given(env, 'SERVER_PORT');
  if (fromServerPort === undefined) return springProperty('server.port', 'PORT', String(kitPort), 'BACKEND_PORT', env);
  return { property: 'server.port', variable: 'PORT', value: fromServerPort, source: 'environment (SERVER_PORT)' };
}

/** The backend's settings beyond application.properties (no kit setting feeds them), by variable. */
const BACKEND_ONLY: Record<string, string> = {
  SERVER_ADDRESS: 'server.address', SERVER_SSL_TRUSTSTORETYPE: 'server.ssl.trust-store-type',
  ...Object.fromEntries(['HANDSHAKE_TIMEOUT_MS', 'HEADERS_TIMEOUT_MS', 'REQUEST_TIMEOUT_MS', 'IDLE_TIMEOUT_MS', 'SHUTDOWN_TIMEOUT_MS', 'RELOAD_STORES', 'RELOAD_DEBOUNCE_MS']
    .map((variable) => [variable, '(backend setting)'])),
};

/**
 * Those the environment gives: the backend reads them from there, so they go on its command line
 * too, or the printed line pasted into another shell would start a different backend.
 */
export function backendOnlyProperties(env: Env = process.env): SpringProperty[] {
  return Object.entries(BACKEND_ONLY).flatMap(([variable, property]) => {
    const value = given(env, variable);
    return value === undefined ? [] : [{ property, variable, value, source: 'environment' }];
  });
}

/**
 * Where a value comes from, as the command line reads it: a kit password equal to one the
 * environment gives under another variable is written as that variable (a value has one name in
 * commands, core/log.ts), so that variable is the source the command reads it from.
 */
function shownSource(p: SpringProperty): string {
  const named = p.kitVariable ? secretVariable(p.value) : undefined;
  return named && named !== p.kitVariable ? `environment (${named}, the same value as ${p.kitVariable})` : p.source;
}

/** The properties as a table (variable=value as the command passes it, and its source); one warning for Spring settings the backend lacks. */
export function printProperties(properties: readonly SpringProperty[], env: Env = process.env): void {
  log.explain('application.properties → environment variables (Spring relaxed binding); the environment wins over the kit:');
  log.explain(`  ${'server.ssl.enabled'.padEnd(34)} (always: the backend only serves TLS 1.2 or later)`);
  const rows = properties.map((p) => ({ ...p, assignment: shellQuote(`${p.variable}=${p.value}`), source: shownSource(p) }));
  const width = Math.max(...rows.map((r) => r.assignment.length));
  for (const r of rows) log.explain(`  ${r.property.padEnd(34)} ${r.assignment.padEnd(width)}  ${r.source}`);
  const ignored = ignoredSpringVariables(env);
  if (ignored.length > 0) log.warn(`not implemented by this backend, ignored: ${ignored.join(', ')} (it always serves TLS 1.2+ with its own protocol and cipher defaults)`);
}

/** `NAME=value` pairs of a command line as printed (values shell-quoted, passwords as their variable). */
function assignments(command: string): Map<string, string> {
  return new Map([...command.matchAll(/(?:^|\s)([A-Z][A-Z0-9_]*)=('(?:[^']|'\\'')*'|"[^"]*"|\S*)/g)].map((m) => [m[1]!, m[2]!]));
}

/**
 * The settings that differ between the command a running service was started with and this one,
 * as `PORT=8443 → 9443 (BACKEND_PORT)`; empty when the same, or when the first is unknown.
 */
export function changedAssignments(before: string | undefined, after: string, properties: readonly SpringProperty[]): string[] {
  if (before === undefined) return [];
  const [was, now] = [assignments(before), assignments(after)];
  return [...new Set([...was.keys(), ...now.keys()])].filter((name) => was.get(name) !== now.get(name)).map((name) => {
    const kit = properties.find((p) => p.variable === name)?.kitVariable;
    return `${name}=${was.get(name) ?? '(unset)'} → ${now.get(name) ?? '(unset)'}${kit ? ` (${kit})` : ''}`;
  });
}
