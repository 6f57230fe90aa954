// Calls the proxy through the gateway like the tutorial's final curl, and describes the answer.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { Agent, request } from 'undici';
import type { LookupFunction } from 'node:net';
import type { Gateway } from './target.ts';
import { StepError } from '../../../core/errors.ts';

/** What the tutorial's backend answers. */
export const GREETING = 'Hello, secure world with mTLS!';

export interface GatewayAnswer {
  status: number;
  body: string;
  /** Apigee fault code from a {"fault":{…}} body, e.g. messaging.adaptors.http.flow.SslHandshakeFailed */
  errorcode: string | undefined;
  faultstring: string | undefined;
}

export function gatewayUrl(gateway: Gateway, basePath: string): string {
  return `https://${gateway.host}${gateway.port === 443 ? '' : `:${gateway.port}`}${basePath}`;
}

/** The curl a reader would type for the same call. */
export function gatewayCurl(gateway: Gateway, basePath: string): string {
  const ca = gateway.caFile ? `--cacert ${relative(process.cwd(), gateway.caFile)} ` : '';
  return `curl -v ${ca}${gatewayUrl(gateway, basePath)}`;
}

export async function callGateway(gateway: Gateway, basePath: string, timeoutMs = 30_000): Promise<GatewayAnswer> {
  const address = gateway.connectAddress;
  const agent = new Agent({
    connect: {
      ca: gateway.caFile ? readFileSync(gateway.caFile) : undefined,
      // The stand-in listens on loopback; keep the real host name for SNI, Host and the certificate check.
      ...(address ? {
        lookup: ((_host: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) =>
          options.all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4)) as unknown as LookupFunction,
      } : {}),
    },
  });
  try {
    const response = await request(gatewayUrl(gateway, basePath), { dispatcher: agent, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNREFUSED') throw error;
      throw new StepError(`nothing listens on ${gateway.host}:${gateway.port}; start the gateway first (local: make apigee-local-start, then the Apigee steps)`);
    });
    const body = await response.body.text();
    let errorcode: string | undefined;
    let faultstring: string | undefined;
    try {
      const fault = (JSON.parse(body) as { fault?: { faultstring?: string; detail?: { errorcode?: string } } }).fault;
      errorcode = fault?.detail?.errorcode;
      faultstring = fault?.faultstring;
    } catch {
      // Not a fault body: the backend's answer.
    }
    return { status: response.statusCode, body, errorcode, faultstring };
  } finally {
    await agent.close();
  }
}
