// Whether a TCP port takes connections: the gateway failure scenarios look for another address
// that reaches the backend; steps 47 and 49 tell a stopped backend apart from other reasons for a 503.
import { lookup } from 'node:dns/promises';
import { connect, createServer } from 'node:net';
import { urlHost, type Config } from '../../core/config.ts';
import { KIT_SETTINGS, followUp } from './follow-up.ts';

/** True when a TCP connection to host:port opens within `timeoutMs`. */
export function reaches(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/**
 * Whether a service (the stand-in, the backend) could listen on the port, found by listening on it
 * for a moment. Connecting to find out is wrong twice for ports in the kernel's ephemeral range (32768-60999 here): another
 * program's connection can hold the port without listening, and a connect to a free port can be
 * given that very port as its own and connect to itself, whose closed socket then blocks the port
 * for a minute (seen with APIGEE_LOCAL_RUNTIME_PORT=33444).
 */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/**
 * With the local stand-in, the usual cause of a gateway 503 is a stopped backend (`make all` stops
 * the one it started): the line that says so and how to start it; undefined when it listens, or
 * when the target is Apigee X (its target server is not this machine's to check).
 */
async function stoppedLocalBackend(config: Config): Promise<string | undefined> {
  if (config.apigee.target !== 'local' || config.dryRun) return undefined;
  const { serverHost } = config.pki;
  const { port } = config.backend;
  // A name this machine cannot resolve is no stopped backend: starting one would not help.
  const unresolved = await lookup(serverHost).then(() => undefined, (error: NodeJS.ErrnoException) => error.code ?? 'lookup failed');
  if (unresolved) return unresolvedHost(serverHost, unresolved);
  if (await reaches(serverHost, port)) return undefined;
  return `nothing listens on the backend's ${urlHost(serverHost)}:${port}; start it with ${followUp('./scripts/20-backend.ts --detach')}`;
}

/**
 * For a step that calls the gateway until it answers: at the first 503 only, stoppedLocalBackend's
 * line (waiting for propagation would not start a backend); undefined otherwise.
 */
export function backendCheckAtFirst503(config: Config): (status: number) => Promise<string | undefined> {
  let checked = false;
  return async (status) => {
    if (status !== 503 || checked) return undefined;
    checked = true;
    return stoppedLocalBackend(config);
  };
}

/** The line for a SERVER_HOST this machine cannot resolve (curl 6, getaddrinfo ENOTFOUND). */
export function unresolvedHost(serverHost: string, why: string): string {
  // The line asks for another SERVER_HOST: carrying the given one would run the failing name again.
  const make = followUp('make all', KIT_SETTINGS.filter((name) => name !== 'SERVER_HOST'));
  return `SERVER_HOST=${serverHost} does not resolve on this machine (${why}), so nothing here reaches the backend by it; for the local demo set SERVER_HOST to an address of this machine (e.g. 127.0.0.1) or add the name to /etc/hosts, then ${make}`;
}
