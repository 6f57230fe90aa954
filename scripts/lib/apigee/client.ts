// The Apigee management client: one code path for the local stand-in and for Apigee X.
// Every call is printed the teaching way (method, URL, masked body, the equivalent curl and, for
// Apigee X, apigeecli), DRY_RUN prints without sending, and errors become one line with a hint.
//
// Retries only where a repeat cannot do harm. GET, PUT and DELETE are idempotent: they are sent
// again on 429, 5xx and network errors, with bounded backoff. A POST creates something, so a POST
// that failed ambiguously (5xx, or the connection lost after the request went out) first looks the
// resource up: when it is there the POST took effect and is not sent again (no second revision of
// an import, no spurious 409 on a create). Only 429 and a refused connection, which say the request
// was not processed, send a POST again without looking.
//
// Every call is bounded in time: connecting (TCP and TLS) may take CONNECT_TIMEOUT_MS, the answer
// `timeoutMs` (APIGEE_API_TIMEOUT; twice that for uploads) until its headers and then between
// pieces of its body. A call that ran out of time is sent at most once more (when a repeat is
// safe, as above): an API that accepts connections and never answers fails a step within about
// two of its timeouts, with one line that names the call and what timed out (for a POST whose
// look-up got no answer either, the POST: that is what the step was doing).
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request, FormData, type Dispatcher } from 'undici';
import { StepError } from '../../../core/errors.ts';
import { displayPath, log, mask, shellQuote } from '../../../core/log.ts';
import { hintSecret } from '../shell.ts';
import { ApigeeApiError, decodeError } from './errors.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** One multipart part: inline text, or a file (shown as -F name=@path in curl). */
export interface FormPart {
  name: string;
  value?: string;
  file?: string;
  /** A secret: sent as is, printed as the shell variable named here (e.g. STORE_PASSWORD). */
  variable?: string;
}

export interface ApiRequest {
  method: Method;
  /** Path below the base URL, e.g. /organizations/o/environments/e/keystores */
  path: string;
  query?: Record<string, string | boolean | number | undefined>;
  json?: unknown;
  form?: FormPart[];
  /** The same call with apigeecli (without the -o/-e/-t flags, added here). */
  apigeecli?: string[];
  /** 404 is an answer (look-ups), not an error. */
  allowNotFound?: boolean;
  /** Send without printing (status polling after the first printed call). */
  quiet?: boolean;
  /**
   * POST only: after an ambiguous failure, the resource as Apigee has it now (undefined = not
   * there, send again). Creates with a JSON `name` or an `alias` query, and deployments, get
   * one by default (GET of the created path); an import must say how to recognise its revision.
   */
  reread?: () => Promise<unknown>;
}

export interface ApiResponse {
  status: number;
  body: Buffer;
  text(): string;
  json<T>(): T;
}

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export interface ClientOptions {
  /** e.g. http://127.0.0.1:9080/v1 or https://apigee.googleapis.com/v1 */
  baseUrl: string;
  org: string;
  env: string;
  /** Resolved lazily so DRY_RUN never runs gcloud. */
  token?: () => Promise<string | undefined>;
  dryRun: boolean;
  /** The shell line that sets $TOKEN, printed once before the first curl that uses it. */
  tokenLine?: string;
  retry?: Partial<RetryPolicy>;
  /** What to check when the server cannot be reached (default: the network and APIGEE_API_BASE). */
  unreachableHint?: string;
  /** What a 401 means for this target (default: a Google token to refresh). */
  unauthorizedHint?: string;
  dispatcher?: Dispatcher;
  quiet?: boolean;
  /** How long a call waits for its answer (APIGEE_API_TIMEOUT); uploads wait twice as long. */
  timeoutMs?: number;
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseMs: 500, maxMs: 8000 };

/** APIGEE_API_TIMEOUT's default: Apigee answers a management call in a second or two. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Connecting, TLS handshake included (undici's own default), or the answer timeout when shorter. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Attempts of a call after one of them ran out of time: a silent API does not wake up on the fourth. */
const TIMED_OUT_ATTEMPTS = 2;

/** The global control plane; data-residency organizations use `https://{region}-apigee.googleapis.com/v1`. */
export const APIGEE_X_BASE = 'https://apigee.googleapis.com/v1';

// Errors raised before the request could reach the server: sending again is always safe.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

// What ran out of time, by undici's error code.
const TIMEOUTS: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'could not connect (TCP or TLS)',
  UND_ERR_HEADERS_TIMEOUT: 'connected, but got no answer',
  UND_ERR_BODY_TIMEOUT: 'the answer stopped arriving',
};

type Sent = { status: number; body: Buffer; retryAfter?: number } | { error: string };

/** A call that got no HTTP answer in any attempt; a POST's look-up reports it under the POST's name. */
class NoAnswerError extends StepError {
  constructor(message: string, readonly failure: string, readonly call: string, readonly attempts: number) {
    super(message);
  }
}

/** Lines printed once per process (the line that sets $TOKEN). */
const printedOnce = new Set<string>();

export class ApigeeClient {
  readonly org: string;
  readonly env: string;
  readonly dryRun: boolean;
  readonly baseUrl: string;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly dispatcher: Dispatcher;
  private cachedToken: Promise<string | undefined> | undefined;
  /** Every request actually sent, for tests and the summary. */
  readonly sent: Array<{ method: Method; url: string }> = [];

  constructor(private readonly options: ClientOptions) {
    this.org = options.org;
    this.env = options.env;
    this.dryRun = options.dryRun;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.dispatcher = options.dispatcher ?? new Agent({ connect: { timeout: Math.min(CONNECT_TIMEOUT_MS, this.timeoutMs) } });
  }

  /** …/organizations/{org} */
  get orgPath(): string {
    return `/organizations/${encodeURIComponent(this.org)}`;
  }
  /** …/organizations/{org}/environments/{env} */
  get envPath(): string {
    return `${this.orgPath}/environments/${encodeURIComponent(this.env)}`;
  }

  url(path: string, query?: ApiRequest['query']): string {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url.toString();
  }

  /** Sends one call; returns undefined in DRY_RUN and for an allowed 404. */
  async call(req: ApiRequest): Promise<ApiResponse | undefined> {
    const url = this.url(req.path, req.query);
    if (!req.quiet) this.print(req, url);
    if (this.dryRun) return undefined;
    const token = await this.token();
    const reread = req.method === 'POST' ? req.reread ?? this.defaultReread(req) : undefined;
    let ambiguous = false;
    for (let attempt = 1; ; attempt++) {
      const sent = await this.sendOnce(req, url, token);
      this.sent.push({ method: req.method, url });
      if ('error' in sent || sent.status === 429 || sent.status >= 500) {
        const failure = 'error' in sent ? sent.error : String(sent.status);
        const notProcessed = failure === '429' || NOT_SENT.has(failure);
        if (!notProcessed) ambiguous = true;
        if (req.method === 'POST' && !notProcessed) {
          const found = await this.rereadAfter(req, this.failureText(req, failure), reread);
          if (found) return found;
        }
        const attempts = failure in TIMEOUTS ? Math.min(this.retry.attempts, TIMED_OUT_ATTEMPTS) : this.retry.attempts;
        if (attempt < attempts && failure !== 'ECONNREFUSED') {
          const delay = this.backoff(attempt, 'error' in sent ? undefined : sent.retryAfter);
          log.warn(`${this.failureText(req, failure)} from ${req.method} ${shortPath(req.path)}; sending it again (${attempt}/${attempts - 1}) in ${(delay / 1000).toFixed(1)} s`);
          await sleep(delay);
          continue;
        }
        if ('error' in sent) {
          const maybe = req.method === 'POST' && ambiguous ? ' (it may have taken effect; rerun the step, it looks up first)' : '';
          const times = attempt > 1 ? `, ${attempt} attempts` : '';
          throw new NoAnswerError(`${req.method} ${mask(url)} failed: ${this.failureText(req, failure)}${times}${maybe} (hint: ${this.hint(failure)})`,
            failure, `${req.method} ${shortPath(req.path)}`, attempt);
        }
      } else if (ambiguous && ((sent.status === 409 && req.method === 'POST') || (sent.status === 404 && req.method === 'DELETE'))) {
        // An earlier attempt did it and its answer was lost: already there / already gone.
        log.info(`${sent.status} now: the earlier ${req.method} took effect`);
        return (req.method === 'POST' ? await this.rereadAfter(req, String(sent.status), reread) : undefined) ?? response(Buffer.from('{}'), 200);
      }
      if (sent.status === 404 && req.allowNotFound) return undefined;
      if (sent.status >= 400) {
        const { status, message } = decodeError(sent.status, sent.body.toString('utf8'));
        throw new ApigeeApiError(sent.status, status, mask(message), `${req.method} ${shortPath(req.path)}`, this.options.unauthorizedHint);
      }
      return response(sent.body, sent.status);
    }
  }

  /** GET that answers undefined for 404 (and in DRY_RUN). */
  async lookup<T>(path: string, apigeecli?: string[], quiet = false): Promise<T | undefined> {
    const res = await this.call({ method: 'GET', path, allowNotFound: true, apigeecli, quiet });
    return res?.json<T>();
  }

  /** Where a create puts its resource, to look for it after an ambiguous failure. */
  private defaultReread(req: ApiRequest): (() => Promise<unknown>) | undefined {
    const name = (req.json as { name?: unknown } | undefined)?.name;
    const child = typeof name === 'string' ? name : typeof req.query?.alias === 'string' ? req.query.alias : undefined;
    if (child !== undefined) return () => this.lookup(`${req.path}/${encodeURIComponent(child)}`, undefined, true);
    if (req.path.endsWith('/deployments')) return () => this.lookup(req.path, undefined, true);
    return undefined;
  }

  private async rereadAfter(req: ApiRequest, failure: string, reread: (() => Promise<unknown>) | undefined): Promise<ApiResponse | undefined> {
    if (!reread) {
      throw new StepError(`${req.method} ${shortPath(req.path)} failed with ${failure}; it may have taken effect, so it is not sent again blindly (hint: rerun the step, it looks up first)`);
    }
    log.warn(`${failure} from ${req.method} ${shortPath(req.path)}: looking it up before sending it again`);
    let found: unknown;
    try {
      found = await reread();
    } catch (error) {
      // The look-up got no answer either. The line must still name the POST: that is what the
      // step was doing and what may or may not have taken effect; the GET is only how we checked.
      if (!(error instanceof NoAnswerError)) throw error;
      const how = error.failure in TIMEOUTS ? 'timed out too' : `failed too (${error.failure})`;
      const times = error.attempts > 1 ? ` after ${error.attempts} attempts` : '';
      throw new StepError(`${req.method} ${mask(this.url(req.path, req.query))} failed: ${failure}; looking it up (${error.call}) ${how}${times}, `
        + `so it is not sent again: it may have taken effect (hint: rerun the step, it looks up first; ${this.hint(error.failure)})`);
    }
    if (found === undefined) return undefined;
    log.info('  it is there: the POST took effect, not sending it again');
    return response(Buffer.from(JSON.stringify(found)), 200);
  }

  private token(): Promise<string | undefined> {
    this.cachedToken ??= this.options.token ? this.options.token() : Promise.resolve(undefined);
    return this.cachedToken;
  }

  private backoff(attempt: number, retryAfterSeconds: number | undefined): number {
    const exponential = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** (attempt - 1));
    const wanted = retryAfterSeconds !== undefined ? retryAfterSeconds * 1000 : exponential;
    return Math.min(this.retry.maxMs, wanted);
  }

  private async sendOnce(req: ApiRequest, url: string, token: string | undefined): Promise<Sent> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | FormData | undefined;
    if (req.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.json);
    } else if (req.form) {
      const form = new FormData();
      for (const part of req.form) {
        if (part.file) form.append(part.name, new Blob([readFileSync(part.file)]), part.file.split('/').pop());
        else form.append(part.name, part.value ?? '');
      }
      body = form;
    }
    try {
      const res = await request(url, {
        method: req.method,
        headers,
        body,
        dispatcher: this.dispatcher,
        headersTimeout: this.answerTimeout(req),
        bodyTimeout: this.answerTimeout(req),
      });
      const data = Buffer.from(await res.body.arrayBuffer());
      const retryAfter = Number(res.headers['retry-after']);
      return { status: res.statusCode, body: data, retryAfter: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined };
    } catch (error) {
      const e = error as { code?: string; cause?: { code?: string }; message?: string };
      return { error: e.cause?.code ?? e.code ?? e.message ?? String(error) };
    }
  }

  /** Uploads (multipart) may take Apigee longer to check than a small JSON call. */
  private answerTimeout(req: ApiRequest): number {
    return req.form ? 2 * this.timeoutMs : this.timeoutMs;
  }

  /** A failure as a reader understands it: "connected, but got no answer within 30 s (UND_ERR_HEADERS_TIMEOUT)". */
  private failureText(req: ApiRequest, failure: string): string {
    const what = TIMEOUTS[failure];
    if (!what) return failure;
    const ms = failure === 'UND_ERR_CONNECT_TIMEOUT' ? Math.min(CONNECT_TIMEOUT_MS, this.timeoutMs) : this.answerTimeout(req);
    return `${what} within ${seconds(ms)} (${failure})`;
  }

  /** What to check after a call got no answer: the silent API for an answer timeout, else the way there. */
  private hint(failure: string): string {
    return failure in TIMEOUTS && failure !== 'UND_ERR_CONNECT_TIMEOUT' ? this.silentHint() : this.options.unreachableHint ?? UNREACHABLE;
  }

  private silentHint(): string {
    return `the Apigee management API accepted the connection but did not answer: check a proxy or firewall on the way, the API's status (https://status.cloud.google.com) and APIGEE_API_BASE; APIGEE_API_TIMEOUT (now ${seconds(this.timeoutMs)}) sets how long a call may wait`;
  }

  private print(req: ApiRequest, url: string): void {
    if (this.options.quiet) return;
    log.info(`→ ${req.method} ${url}`);
    if (req.json !== undefined) log.explain(`  ${JSON.stringify(req.json)}`);
    if (req.form) log.explain(`  multipart: ${req.form.map((p) => `${p.name}=${p.file ? `@${displayPath(p.file)}` : p.variable ? `$${p.variable}` : p.value}`).join(' ')}`);
    if (this.options.tokenLine) once(this.options.tokenLine, () => log.command(this.options.tokenLine!, 'sets $TOKEN for the curl commands below'));
    for (const p of req.form ?? []) if (p.variable) hintSecret(p.variable);
    log.command(this.curl(req, url));
    if (req.apigeecli) {
      const cli = apigeecliFlags(this.baseUrl);
      const argv = ['apigeecli', ...req.apigeecli, '-o', this.org, ...(needsEnv(req.apigeecli) ? ['-e', this.env] : []), '-t', '$TOKEN', ...(cli ?? [])];
      const line = argv.map(quoteExceptVar).join(' ');
      // apigeecli only talks to Apigee X; for the stand-in it is shown for later, not to paste.
      if (cli) log.command(line);
      else log.comment(`the same on Apigee X: ${line}`);
    }
  }

  /** The curl a reader would type; the token is always the shell variable $TOKEN. */
  curl(req: ApiRequest, url: string): string {
    const parts = ['curl', '-sS'];
    if (req.method !== 'GET') parts.push('-X', req.method);
    parts.push(shellQuote(url));
    if (this.options.token || this.options.tokenLine) parts.push('-H', '"Authorization: Bearer $TOKEN"');
    if (req.json !== undefined) parts.push('-H', shellQuote('Content-Type: application/json'), '-d', shellQuote(JSON.stringify(req.json)));
    // A POST or PUT without a body (deploy): curl would send no Content-Length, which Google's
    // front end refuses with 411; the client sends Content-Length: 0, and so does this line.
    else if (!req.form && (req.method === 'POST' || req.method === 'PUT')) parts.push('-H', shellQuote('Content-Length: 0'));
    // A text part goes as --form-string: with -F, curl would read a value starting with @ or < as
    // a file and cut it at ";" (a password may hold either).
    for (const p of req.form ?? []) {
      if (p.file) parts.push('-F', shellQuote(`${p.name}=@${displayPath(p.file)}`));
      else parts.push('--form-string', p.variable ? `"${p.name}=$${p.variable}"` : shellQuote(`${p.name}=${p.value ?? ''}`));
    }
    return parts.join(' ');
  }
}

function response(body: Buffer, status: number): ApiResponse {
  return { status, body, text: () => body.toString('utf8'), json: <T>() => JSON.parse(body.toString('utf8')) as T };
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

function once(key: string, print: () => void): void {
  if (printedOnce.has(key)) return;
  printedOnce.add(key);
  print();
}

/**
 * apigeecli's flags for the base URL, or undefined when apigeecli cannot reach it (the stand-in,
 * a custom host). It knows the global host and the data-residency hosts (`--region eu`).
 */
function apigeecliFlags(baseUrl: string): string[] | undefined {
  const url = new URL(baseUrl);
  if (url.protocol !== 'https:' || url.pathname.replace(/\/+$/, '') !== '/v1') return undefined;
  if (url.hostname === 'apigee.googleapis.com') return [];
  const region = /^([a-z0-9]+)-apigee\.googleapis\.com$/.exec(url.hostname)?.[1];
  return region ? ['--region', region] : undefined;
}

// Shell variables ($TOKEN, $STORE_PASSWORD) stay expandable in the printed command.
function quoteExceptVar(arg: string): string {
  return /^\$[A-Z_]+$/.test(arg) ? `"${arg}"` : shellQuote(arg);
}

// apigeecli commands scoped to the organization take no -e (`apis list -e` would list deployments instead).
function needsEnv(argv: string[]): boolean {
  const [group, verb] = argv;
  return !(group === 'apis' && ['create', 'get', 'delete', 'list', 'listdeploy'].includes(verb ?? '')) && group !== 'envgroups';
}

function shortPath(path: string): string {
  return path.replace(/^\/organizations\/[^/]+(\/environments\/[^/]+)?/, '');
}

const UNREACHABLE = 'check the network and the Apigee base URL (APIGEE_API_BASE)';
