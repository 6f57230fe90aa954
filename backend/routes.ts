// The API on the TLS port: GET / (the tutorial's greeting), GET /whoami, GET /openapi.json.
// Bodies and headers are built once at start; a request only picks one.
import type { OutgoingHttpHeaders } from 'node:http';
import type { ClientIdentity, Identifier } from './identity.ts';
import { openapi } from './openapi.ts';

/** The tutorial's greeting; other parts of the kit import it from here (the backend has no dependencies). */
export const GREETING = 'Hello, secure world with mTLS!';

/**
 * An answer ready to send. The body is a string, not bytes: node:http then sends the head and the
 * body as one string write, where a Buffer body takes a gathered write of two parts (~7,000 fewer
 * instructions per request, ~4 %, counted with callgrind; docs/backend.md, "Speed").
 */
export interface Answer {
  status: number;
  headers: OutgoingHttpHeaders;
  body: string;
}

/** A JSON answer with its headers; `extra` headers are added as given (lower-case names). */
export function jsonAnswer(status: number, value: unknown, extra: OutgoingHttpHeaders = {}): Answer {
  return textAnswer(status, JSON.stringify(value), extra);
}

function textAnswer(status: number, body: string, extra: OutgoingHttpHeaders = {}): Answer {
  return { status, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...extra }, body };
}

const ALLOW = 'GET, HEAD';
const prepared = {
  hello: jsonAnswer(200, { message: GREETING }),
  openapi: jsonAnswer(200, openapi),
  notFound: jsonAnswer(404, { error: 'not found' }),
  methodNotAllowed: jsonAnswer(405, { error: 'method not allowed', allow: ALLOW }, { allow: ALLOW }),
};

const ROUTES = new Set(['/', '/whoami', '/openapi.json']);
const SLASH = 47;

/**
 * The path of an absolute-form target ("https://host:8443/whoami" → "/whoami"), which a server
 * must accept (RFC 9112 §3.2.2; proxies send it). Anything else that does not start with "/"
 * ("*", "host:443") is returned as is and matches no route.
 */
function originForm(target: string): string {
  const m = /^https?:\/\/[^/]*/i.exec(target);
  return m ? target.slice(m[0].length) || '/' : target;
}

/** Picks the answer for one request. */
export function answer(method: string, url: string, who: ClientIdentity, identifier: Identifier): Answer {
  if (!who.verdict.ok) return refusal(who);
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  if (path.charCodeAt(0) !== SLASH) path = originForm(path);
  if (!ROUTES.has(path)) return prepared.notFound;
  if (method !== 'GET' && method !== 'HEAD') return prepared.methodNotAllowed;
  if (path === '/') return prepared.hello;
  if (path === '/openapi.json') return prepared.openapi;
  return whoami(identifier, who);
}

/** 401/403 for a client that may not use the API ("want" mode, allow-list); built once per identity. */
function refusal(who: ClientIdentity): Answer {
  if (who.refusal) return who.refusal;
  const { status, error, reason } = who.verdict as Extract<ClientIdentity['verdict'], { ok: false }>;
  who.refusal = jsonAnswer(status, reason ? { error, reason } : { error });
  return who.refusal;
}

/** By identity: an accepted identity is one object per certificate (identity.ts). */
const whoamiAnswers = new WeakMap<ClientIdentity, Answer>();

function whoami(identifier: Identifier, who: ClientIdentity): Answer {
  let a = whoamiAnswers.get(who);
  if (!a) {
    a = textAnswer(200, identifier.whoami(who));
    whoamiAnswers.set(who, a);
  }
  return a;
}
