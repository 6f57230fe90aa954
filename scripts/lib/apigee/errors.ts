// Google's error envelope ({"error":{code,message,status,details}}) turned into one line with a
// hint a reader can act on.
import { StepError } from '../../../core/errors.ts';

interface GoogleError {
  code?: number;
  message?: string;
  status?: string;
  details?: Array<{ '@type'?: string; violations?: Array<{ type?: string; subject?: string; description?: string }> }>;
}

export class ApigeeApiError extends StepError {
  constructor(
    readonly httpStatus: number,
    readonly status: string,
    readonly apiMessage: string,
    readonly request: string,
    unauthorizedHint?: string,
  ) {
    const hint = hintFor(httpStatus, status, apiMessage, unauthorizedHint);
    super(`${request} → ${httpStatus} ${status}: ${apiMessage}${hint ? ` (hint: ${hint})` : ''}`);
    this.name = 'ApigeeApiError';
  }
}

/** What to do next, by status; the messages Apigee sends rarely say it. `unauthorized`: the 401 hint of the target. */
export function hintFor(httpStatus: number, status: string, message: string, unauthorized = 'token expired or missing: run gcloud auth login, or refresh APIGEE_TOKEN'): string {
  if (httpStatus === 401) return unauthorized;
  if (httpStatus === 403) {
    const permission = /apigee\.[a-zA-Z]+\.[a-zA-Z]+/.exec(message)?.[0];
    return permission
      ? `your account lacks ${permission}; grant a role that holds it (e.g. roles/apigee.environmentAdmin)`
      : 'your account lacks an Apigee permission on this organization (e.g. roles/apigee.environmentAdmin)';
  }
  if (httpStatus === 404) return 'check APIGEE_ORG / APIGEE_ENV and that the earlier steps ran';
  if (httpStatus === 409) return 'it already exists; the steps look resources up first, so rerun the step';
  if (status === 'FAILED_PRECONDITION') return 'resolve the conflict named above (e.g. undeploy the other revision or deploy with override)';
  if (httpStatus === 429) return 'quota exceeded; wait a minute and rerun';
  if (httpStatus >= 500) return 'Apigee had a server error; rerun the step (it converges)';
  return '';
}

/** Decodes a response body into (status, message); tolerates non-JSON bodies from proxies. */
export function decodeError(httpStatus: number, bodyText: string): { status: string; message: string } {
  try {
    const parsed = JSON.parse(bodyText) as { error?: GoogleError };
    const e = parsed.error;
    if (e && typeof e === 'object') {
      const violations = (e.details ?? []).flatMap((d) => d.violations ?? []);
      const extra = violations.map((v) => v.description ?? v.type).filter(Boolean).join('; ');
      const message = [e.message ?? '', extra].filter(Boolean).join(': ');
      return { status: e.status ?? statusName(httpStatus), message: oneLine(message) || 'no message' };
    }
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return { status: statusName(httpStatus), message: oneLine(bodyText).slice(0, 200) || 'empty body' };
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function statusName(httpStatus: number): string {
  const names: Record<number, string> = {
    400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
    409: 'ALREADY_EXISTS', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE',
  };
  return names[httpStatus] ?? `HTTP_${httpStatus}`;
}
