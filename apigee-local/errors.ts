// Errors in the two shapes Apigee X answers with: Google's `google.rpc.Status` envelope on the
// management API, and the message processor's `{"fault":…}` body on the runtime.
import { randomInt } from 'node:crypto';

export type RpcStatus =
  | 'INVALID_ARGUMENT'
  | 'FAILED_PRECONDITION'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'INTERNAL';

const HTTP_CODE: Record<RpcStatus, number> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  INTERNAL: 500,
};

/** A management API failure; the server turns it into the Google error envelope. */
export class ApiError extends Error {
  readonly code: number;
  constructor(readonly status: RpcStatus, message: string, readonly details: object[] = []) {
    super(message);
    this.name = 'ApiError';
    this.code = HTTP_CODE[status];
  }
}

export const invalid = (message: string) => new ApiError('INVALID_ARGUMENT', message);
export const notFound = (message: string) => new ApiError('NOT_FOUND', message);
export const alreadyExists = (resource: string) =>
  new ApiError('ALREADY_EXISTS', `cannot create resource ${resource}; already exists`);

/** Google request ids are long decimal numbers. */
function requestId(): string {
  return `${randomInt(1, 2 ** 47)}${randomInt(0, 1_000_000)}`;
}

export function errorEnvelope(error: ApiError): object {
  return {
    error: {
      code: error.code,
      message: error.message,
      status: error.status,
      details: [...error.details, { '@type': 'type.googleapis.com/google.rpc.RequestInfo', requestId: requestId() }],
    },
  };
}

/** A runtime fault as the message processor reports it. */
export class Fault extends Error {
  constructor(
    readonly httpStatus: number,
    readonly errorcode: string,
    readonly faultstring: string,
    readonly reason?: string,
    /** What went wrong below the fault, for the stand-in's log only (Apigee shows it in a debug session, never to the client). */
    readonly why?: string,
  ) {
    super(faultstring);
    this.name = 'Fault';
  }
  body(): string {
    const detail: Record<string, string> = { errorcode: this.errorcode };
    if (this.reason) detail.reason = this.reason;
    return JSON.stringify({ fault: { faultstring: this.faultstring, detail } });
  }
}

// Each fault is an entry of Apigee's runtime error catalog (status, errorcode, faultstring, and
// `reason` where Apigee gives one); the sources are listed in docs/apigee-local.md ("Faults").
const FLOW = 'messaging.adaptors.http.flow';
const UNAVAILABLE = 'The Service is temporarily unavailable';
export const faults = {
  noRoute: (host: string, path: string) => new Fault(404, `${FLOW}.ApplicationNotFound`, `Unable to identify proxy for host: ${host} and url: ${path}`),
  serviceUnavailable: (why?: string) => new Fault(503, `${FLOW}.ServiceUnavailable`, UNAVAILABLE, undefined, why),
  /** `reason` follows "SSL Handshake failed " in the faultstring; `why`, for the log only, says more when given. */
  sslHandshakeFailed: (reason: string, why?: string) => new Fault(503, `${FLOW}.SslHandshakeFailed`, `SSL Handshake failed ${reason}`, undefined, why),
  noActiveTargets: (why?: string) => new Fault(503, `${FLOW}.NoActiveTargets`, UNAVAILABLE, undefined, why),
  duplicateHeader: (name: string) => new Fault(400, 'protocol.http.DuplicateHeader', `Duplicate Header "${name}"`),
  /** Over the payload limit: 413 for the client's body, 502 for the backend's (Edge's playbooks; X: docs/apigee-local.md). */
  tooBigBody: (status: 413 | 502) => new Fault(status, 'protocol.http.TooBigBody', 'Body buffer overflow'),
  /** The backend's response head (headers) over the gateway's limit: 502, Edge's "502 Bad Gateway – TooBigHeaders" playbook. */
  responseHeadersTooBig: (limit: number) => new Fault(502, 'protocol.http.TooBigHeaders', `response headers size exceeding ${limit.toLocaleString('en-US')}`),
  /** The client's request line over the limit: 414, Edge's "414 Request-URI Too Long – TooBigLine" playbook. */
  requestLineTooBig: (limit: number) => new Fault(414, 'protocol.http.TooBigLine', `request line size exceeding ${limit.toLocaleString('en-US')}`),
  gatewayTimeout: () => new Fault(504, `${FLOW}.GatewayTimeout`, 'Gateway Timeout', 'TARGET_READ_TIMEOUT'),
  /** Not an Apigee fault: a bug in the stand-in (never expected; logged). */
  internal: (message: string) => new Fault(500, 'messaging.runtime.UnknownError', message),
};
