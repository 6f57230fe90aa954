// A small, strict multipart/form-data parser (RFC 7578) for alias and bundle uploads. The whole
// body is already in memory and size-capped by the caller; parts are bounded in number.
import { invalid } from './errors.ts';

export interface Part {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

const MAX_PARTS = 16;

export function boundaryOf(contentType: string): string {
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw invalid('multipart/form-data request without a boundary');
  return boundary;
}

function parseHeaders(block: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw invalid('malformed multipart part header');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

function dispositionParam(disposition: string, key: string): string | undefined {
  const match = new RegExp(`;\\s*${key}="([^"]*)"|;\\s*${key}=([^\\s;]+)`, 'i').exec(disposition);
  return match?.[1] ?? match?.[2];
}

export function parseMultipart(body: Buffer, contentType: string): Part[] {
  const delimiter = Buffer.from(`--${boundaryOf(contentType)}`);
  const parts: Part[] = [];
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw invalid('multipart body does not contain its boundary');
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === '--') return parts; // closing delimiter
    if (body.subarray(pos, pos + 2).toString() !== '\r\n') throw invalid('malformed multipart delimiter line');
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw invalid('multipart part without a header end');
    const headers = parseHeaders(body.subarray(pos, headerEnd).toString('latin1'));
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd + 4);
    if (next < 0) throw invalid('multipart body is truncated (no closing boundary)');
    const disposition = headers['content-disposition'] ?? '';
    const name = dispositionParam(disposition, 'name');
    if (!/^form-data/i.test(disposition) || name === undefined) throw invalid('multipart part without Content-Disposition: form-data; name=…');
    parts.push({
      name,
      filename: dispositionParam(disposition, 'filename'),
      contentType: headers['content-type'],
      data: body.subarray(headerEnd + 4, next),
    });
    if (parts.length > MAX_PARTS) throw invalid(`too many multipart parts (more than ${MAX_PARTS})`);
    pos = next + 2;
  }
}
