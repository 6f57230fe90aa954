// Waiting for a socket to close whatever happened before: events.once(socket, 'close') rejects
// when an 'error' (a reset after the server closed, common under load) comes first, which fails a
// test that only wanted the close, or, left unheard after a `.then`, ends the whole file.
import type { Socket } from 'node:net';

/** Resolves when `socket` has closed; its errors are the caller's to listen for (or not). */
export function closeOf(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}
