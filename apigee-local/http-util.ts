// Small HTTP helpers shared by the management API and the runtime.
import type { IncomingMessage, ServerResponse } from 'node:http';
import busboy from 'busboy';
import { invalid } from './errors.ts';

/** One part of a multipart/form-data upload, whole in memory (parts are size-capped). */
export interface Part {
  name: string;
  filename?: string;
  data: Buffer;
}

export interface MultipartLimits {
  parts: number;
  /** Bytes per part (file or field). */
  partBytes: number;
}

/**
 * Reads a multipart/form-data body with busboy, which enforces the limits while it parses: no
 * more than `parts` parts and `partBytes` per part; anything over is a 400 before the body is kept.
 */
export function readMultipart(req: IncomingMessage, limits: MultipartLimits): Promise<Part[]> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    const most = limits.parts * (limits.partBytes + 1024);
    let parser: busboy.Busboy;
    try {
      if (declared > most) throw invalid(`request body of ${declared} bytes exceeds the upload limit of ${most} bytes`);
      parser = busboy({ headers: req.headers, limits: { parts: limits.parts, fileSize: limits.partBytes, fieldSize: limits.partBytes, headerPairs: 16 } });
    } catch (error) {
      req.resume();
      reject(error instanceof Error && error.name === 'ApiError' ? error : invalid(`malformed multipart/form-data request: ${(error as Error).message}`));
      return;
    }
    const parts: Part[] = [];
    let settled = false;
    const refuse = (message: string) => {
      if (settled) return;
      settled = true;
      req.unpipe(parser);
      req.resume(); // drain what the client still sends; the answer goes out now
      reject(invalid(message));
    };
    const tooBig = (name: string) => `multipart part "${name}" is larger than ${limits.partBytes} bytes (the upload limit per part)`;
    parser.on('file', (name, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => refuse(tooBig(name)));
      // A body cut off inside a file part errors the part's stream; unheard, it would stop the process.
      stream.on('error', (error: Error) => refuse(`malformed multipart/form-data body: ${error.message}`));
      stream.on('close', () => {
        if (!settled) parts.push({ name, filename: info.filename, data: Buffer.concat(chunks) });
      });
    });
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) return refuse(tooBig(name));
      parts.push({ name, data: Buffer.from(value, 'utf8') });
    });
    parser.on('partsLimit', () => refuse(`too many multipart parts (more than ${limits.parts})`));
    parser.on('error', (error: Error) => refuse(`malformed multipart/form-data body: ${error.message}`));
    parser.on('close', () => {
      if (settled) return;
      settled = true;
      resolve(parts);
    });
    req.on('error', (error) => refuse(`upload interrupted: ${error.message}`));
    req.pipe(parser);
  });
}

/** Reads a request body up to `limit` bytes; larger bodies are refused without buffering them. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      reject(invalid(`request body of ${declared} bytes exceeds the upload limit of ${limit} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(invalid(`request body exceeds the upload limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => failed || resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendBytes(res: ServerResponse, status: number, contentType: string, body: Buffer | string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The host name of a Host header, without the port and lower-cased ("[::1]" keeps its brackets). */
export function hostName(header: string | undefined): string {
  if (!header) return '';
  const name = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.replace(/:\d*$/, '');
  return name.toLowerCase().replace(/\.$/, '');
}
