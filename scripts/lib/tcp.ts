// Whether a TCP port takes connections: the gateway failure scenarios look for another address
// that reaches the backend; step 49 tells a stopped backend apart from other reasons for a 503.
import { connect } from 'node:net';

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
