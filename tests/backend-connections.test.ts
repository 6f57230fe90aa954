// The backend's connection records (backend/connections.ts): closed sockets leave them at the
// next sweep (there is no 'close' listener per socket), idle ones are closed, busy ones kept.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { EventEmitter } from 'node:events';
import { Connections } from '../backend/connections.ts';
import { Identifier } from '../backend/identity.ts';

/** Just what Connections reads of a socket: its address, destroyed and destroy(). */
function fakeSocket(): Socket & TLSSocket {
  const s = Object.assign(new EventEmitter(), {
    remoteAddress: '127.0.0.1',
    destroyed: false,
    destroy() {
      s.destroyed = true;
      return s;
    },
  });
  return s as unknown as Socket & TLSSocket;
}

const IDLE_MS = 200; // swept every 50 ms

async function sweeps(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, IDLE_MS / 4 + 5));
}

test('closed sockets are forgotten at the next sweep, open ones are kept until idle', async () => {
  const connections = new Connections(new Identifier('need', []), IDLE_MS);
  try {
    const sockets = Array.from({ length: 100 }, fakeSocket);
    for (const s of sockets) connections.accepted(s);
    for (const s of sockets.slice(0, 60)) connections.secured(s); // 40 still handshaking
    assert.equal(connections.tracked(), { tcp: 100, tls: 60 });
    for (const s of sockets.slice(0, 30)) s.destroy(); // 30 connections closed
    for (const s of sockets.slice(60, 80)) s.destroy(); // 20 handshakes given up
    await sweeps(2);
    assert.equal(connections.tracked(), { tcp: 50, tls: 30 }, 'only the open ones are held');
    assert.ok(sockets.slice(30, 60).every((s) => !s.destroyed), 'not idle yet: not closed');
    const busy = sockets[30]!;
    // A bound for a loaded machine (timers run late), not the expected time: the loop ends at
    // the sweep that closes them, about IDLE_MS after they went idle.
    const deadline = Date.now() + IDLE_MS * 25;
    while (sockets[31]!.destroyed === false && Date.now() < deadline) {
      connections.of(busy)!.lastRequest = performance.now(); // a request on it now and then
      await sweeps(1);
    }
    assert.ok(sockets.slice(31, 60).every((s) => s.destroyed), 'idle connections are closed after the idle timeout');
    assert.not.ok(busy.destroyed, 'a connection with requests is kept');
    await sweeps(2);
    assert.equal(connections.tracked(), { tcp: 21, tls: 1 }, 'the closed ones are forgotten');
  } finally {
    connections.stop();
  }
});

test('destroyAll closes handshaking and established connections alike', () => {
  const connections = new Connections(new Identifier('need', []), IDLE_MS);
  const sockets = Array.from({ length: 4 }, fakeSocket);
  for (const s of sockets) connections.accepted(s);
  connections.secured(sockets[0]!);
  connections.destroyAll();
  assert.ok(sockets.every((s) => s.destroyed));
});

test.run();
