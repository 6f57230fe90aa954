// The Apigee management client: one code path for the local stand-in and for Apigee X.
// Every call is printed the teaching way (method, URL, masked body, the equivalent curl and
// apigeecli commands), DRY_RUN prints without sending, 429/5xx are retried with bounded backoff,
// and errors become one line with a hint (errors.ts).
import { readFileSync } from 'node:fs';
import { relative, isAbsolute } from 'node:path';
import { request, FormData, type Dispatcher } from 'undici';
import { StepError } from '../../../core/errors.ts';
import { log, mask, shellQuote } from '../../../core/log.ts';
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
  /** Shown in curl commands instead of the token. */
  tokenHint?: string;
  retry?: Partial<RetryPolicy>;
  dispatcher?: Dispatcher;
  /** Where relative file paths in curl commands are relative to. */
  cwd?: string;
  quiet?: boolean;
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseMs: 500, maxMs: 8000 };

export class ApigeeClient {
  readonly org: string;
  readonly env: string;
  readonly dryRun: boolean;
  private readonly retry: RetryPolicy;
  private cachedToken: Promise<string | undefined> | undefined;
  /** Every request actually sent, for tests and the summary. */
  readonly sent: Array<{ method: Method; url: string }> = [];

  constructor(private readonly options: ClientOptions) {
    this.org = options.org;
    this.env = options.env;
    this.dryRun = options.dryRun;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
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
    const url = new URL(this.options.baseUrl.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url.toString();
  }

  /** Sends one call; returns undefined in DRY_RUN and for an allowed 404. */
  async call(req: ApiRequest): Promise<ApiResponse | undefined> {
    const url = this.url(req.path, req.query);
    if (!req.quiet) this.print(req, url);
    if (this.dryRun) return undefined;
    const token = await this.token();
    for (let attempt = 1; ; attempt++) {
      const response = await this.sendOnce(req, url, token);
      this.sent.push({ method: req.method, url });
      const retryable = response.status === 429 || response.status >= 500;
      if (retryable && attempt < this.retry.attempts) {
        const delay = this.backoff(attempt, response.retryAfter);
        log.warn(`${response.status} from Apigee; retry ${attempt}/${this.retry.attempts - 1} in ${(delay / 1000).toFixed(1)}s`);
        await new Promise((r) => setTimeout(r, delay));
        continue;
      }
      if (response.status === 404 && req.allowNotFound) return undefined;
      if (response.status >= 400) {
        const { status, message } = decodeError(response.status, response.body.toString('utf8'));
        throw new ApigeeApiError(response.status, status, mask(message), `${req.method} ${shortPath(req.path)}`);
      }
      const body = response.body;
      return {
        status: response.status,
        body,
        text: () => body.toString('utf8'),
        json: <T>() => JSON.parse(body.toString('utf8')) as T,
      };
    }
  }

  /** GET that answers undefined for 404 (and in DRY_RUN). */
  async lookup<T>(path: string, apigeecli?: string[]): Promise<T | undefined> {
    const response = await this.call({ method: 'GET', path, allowNotFound: true, apigeecli });
    return response?.json<T>();
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

  private async sendOnce(req: ApiRequest, url: string, token: string | undefined): Promise<{ status: number; body: Buffer; retryAfter?: number }> {
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
      const response = await request(url, {
        method: req.method,
        headers,
        body,
        dispatcher: this.options.dispatcher,
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
      });
      const data = Buffer.from(await response.body.arrayBuffer());
      const retryAfter = Number(response.headers['retry-after']);
      return { status: response.statusCode, body: data, retryAfter: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined };
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as Error).message;
      throw new StepError(`${req.method} ${url} failed: ${code} (hint: ${networkHint(this.options.baseUrl)})`);
    }
  }

  private print(req: ApiRequest, url: string): void {
    if (this.options.quiet) return;
    log.info(`→ ${req.method} ${url}`);
    if (req.json !== undefined) log.explain(`  ${JSON.stringify(req.json)}`);
    if (req.form) log.explain(`  multipart: ${req.form.map((p) => `${p.name}=${p.file ? `@${this.display(p.file)}` : p.variable ? `$${p.variable}` : p.value}`).join(' ')}`);
    log.command(this.curl(req, url));
    if (req.apigeecli) {
      log.command(['apigeecli', ...req.apigeecli, '-o', this.org, ...(needsEnv(req.apigeecli) ? ['-e', this.env] : []), '-t', '$TOKEN'].map(quoteExceptVar).join(' '));
    }
  }

  /** The curl a reader would type; the token is always the shell variable $TOKEN. */
  curl(req: ApiRequest, url: string): string {
    const parts = ['curl', '-sS'];
    if (req.method !== 'GET') parts.push('-X', req.method);
    parts.push(shellQuote(url));
    if (this.options.token || this.options.tokenHint) parts.push('-H', '"Authorization: Bearer $TOKEN"');
    if (req.json !== undefined) parts.push('-H', shellQuote('Content-Type: application/json'), '-d', shellQuote(JSON.stringify(req.json)));
    for (const p of req.form ?? []) {
      parts.push('-F', p.file ? shellQuote(`${p.name}=@${this.display(p.file)}`) : p.variable ? `"${p.name}=$${p.variable}"` : shellQuote(`${p.name}=${p.value ?? ''}`));
    }
    return parts.join(' ');
  }

  private display(file: string): string {
    const cwd = this.options.cwd ?? process.cwd();
    const rel = isAbsolute(file) ? relative(cwd, file) : file;
    return rel.startsWith('..') ? file : rel;
  }
}

// Shell variables ($TOKEN, $STORE_PASSWORD) stay expandable in the printed command.
function quoteExceptVar(arg: string): string {
  return /^\$[A-Z_]+$/.test(arg) ? `"${arg}"` : shellQuote(arg);
}

// apigeecli commands scoped to the organization take no -e.
function needsEnv(argv: string[]): boolean {
  const [group, verb] = argv;
  return !(group === 'apis' && ['create', 'get', 'delete', 'listdeploy'].includes(verb ?? '')) && group !== 'envgroups';
}

function shortPath(path: string): string {
  return path.replace(/^\/organizations\/[^/]+(\/environments\/[^/]+)?/, '');
}

function networkHint(baseUrl: string): string {
  return /127\.0\.0\.1|localhost/.test(baseUrl)
    ? 'is the local Apigee stand-in running? start it with ./scripts/40-apigee-local.ts --detach'
    : 'check the network and the Apigee base URL';
}
