// Whether a TCP port takes connections: the gateway failure scenarios look for another address
// that reaches the backend; steps 47 and 49 tell a stopped backend apart from other reasons for a 503.
import { connect } from 'node:net';
import { urlHost, type Config } from '../../core/config.ts';

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
 * With the local stand-in, the usual cause of a gateway 503 is a stopped backend (`make all` stops
 * the one it started): the line that says so and how to start it; undefined when it listens, or
 * when the target is Apigee X (its target server is not this machine's to check).
 */
export async function stoppedLocalBackend(config: Config): Promise<string | undefined> {
  if (config.apigee.target !== 'local' || config.dryRun) return undefined;
  const { serverHost } = config.pki;
  const { port } = config.backend;
  if (await reaches(serverHost, port)) return undefined;
  return `nothing listens on the backend's ${urlHost(serverHost)}:${port}; start it with ./scripts/20-backend.ts --detach`;
}
