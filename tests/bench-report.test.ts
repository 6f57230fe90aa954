// bench/backend/report.ts judges the targets of issue 10 from one run's figures. Rendered here
// from made-up figures, so each verdict is known in advance: a p99 under ab's whole-millisecond
// resolution on both sides (0 and 0) is equal, not "missed" (a 0 ÷ 0 ratio once counted as a miss),
// and a p99 above the JDK's is still missed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderResults, type Pair, type Pairs, type Samples, type ServerFigures } from '../bench/backend/report.ts';
import { GROUPS, type ProfileSummary } from '../bench/backend/profile.ts';
import type { HandshakeResult, KeepAliveResult } from '../bench/backend/load.ts';

const CONNECTIONS = [1, 8, 32];

function handshake(perCore: number): HandshakeResult {
  return { connections: 100, observedPerSecond: perCore / 2, perCoreCapacity: perCore, resumedShare: 1, cpuSeconds: 1, wallSeconds: 1 };
}

function keepAlive(connections: number, perCore: number, p99ms: number): KeepAliveResult {
  return { connections, requests: perCore, failed: 0, requestsPerSecond: perCore / 2, perCoreCapacity: perCore, serverLoad: 0.5, p99ms, cpuSeconds: 1, wallSeconds: 2 };
}

/** One server measured alike in every round; `p99` by connection count. */
function server(name: string, speed: number, p99: Record<number, number>, memory = 80): ServerFigures {
  const ka = CONNECTIONS.map((c) => keepAlive(c, speed * 100, p99[c]!));
  const samples: Samples = {
    full: [handshake(speed), handshake(speed)],
    resumed: [handshake(speed * 2), handshake(speed * 2)],
    keepAlive: new Map(ka.map((k) => [k.connections, [k, k]])),
  };
  return { name, full: handshake(speed), resumed: handshake(speed * 2), keepAlive: ka, memory, samples };
}

const summary: ProfileSummary = { busyMs: 100, groups: Object.fromEntries(GROUPS.map((g) => [g, 10])), top: [['writev', 30]] };
const profiled = { keepAlive: { summary, units: 1000 }, handshakes: { summary, units: 100 } };
const pem = { cert: '/w/c.pem', key: '/w/k.pem', ca: '/w/ca.pem', combined: '/w/all.pem' };
const info = {
  seconds: 1, keepAliveSeconds: 2, profileSeconds: 4, rounds: 2, aaRounds: 2, durationS: 60, versions: {}, cpu: 'test CPU',
  load: { before: '0 0 0', afterMeasuring: '0 0 0', atEnd: '0 0 0' }, date: '2026-12-01 00:00 UTC', pem, work: '/w',
};

/** The rendered targets with our backend's p99 against the JDK's as given (both measured in turns). */
function targets(oursP99: Record<number, number>, jdkP99: Record<number, number>): string {
  const ours = server('backend', 300, oursP99);
  const bare = server('plain-node', 310, { 1: 0, 8: 4, 32: 9 }, 75);
  const jdk = server('jdk', 250, jdkP99, 250);
  const nginx = server('nginx', 500, { 1: 0, 8: 0, 32: 1 }, 11);
  const pair = (other: ServerFigures): Pair => ({ ours, other });
  const pairs: Pairs = { bare: pair(bare), jdk: pair(jdk), nginx: pair(nginx), aa: { ours: bare, other: bare } };
  const text = renderResults([nginx, jdk, ours, bare], pairs, { backend: profiled, 'plain-node': profiled }, info);
  return text.split('\n').find((line) => line.startsWith('- ahead of the JDK'))!;
}

test('p99s both under 1 ms are equal, not missed; the line says so', () => {
  const line = targets({ 1: 0, 8: 0, 32: 2 }, { 1: 0, 8: 1, 32: 3 });
  assert.is(line, '- ahead of the JDK server on every figure: met (equal on p99 latency ms, 1 connection: ab gives whole milliseconds)');
});

test('a p99 above the JDK\'s is missed, by name', () => {
  const line = targets({ 1: 0, 8: 2, 32: 2 }, { 1: 0, 8: 1, 32: 3 });
  assert.match(line, /^- ahead of the JDK server on every figure: \*\*missed\*\* on p99 latency ms, 8 connections \(equal on p99 latency ms, 1 connection/);
});

test('ahead everywhere, nothing equal: met, without a note', () => {
  assert.is(targets({ 1: 0, 8: 0, 32: 1 }, { 1: 1, 8: 1, 32: 3 }), '- ahead of the JDK server on every figure: met');
});

test.run();
