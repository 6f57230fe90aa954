// The worker thread behind parsePkcs12Async (lib/pkcs12.ts). It runs the synchronous parser, so
// the MAC check, every key derivation, decryption and key/certificate parsing happen here, never
// on the caller's event loop. The result's KeyObject and X509Certificate values clone across threads.
import { parentPort } from 'node:worker_threads';
import { Pkcs12Error, parsePkcs12, type Pkcs12Contents, type Pkcs12ErrorCode, type Pkcs12Limit } from './pkcs12.ts';

export interface WorkerRequest {
  id: number;
  der: Uint8Array;
  password: string;
}

export type WorkerReply =
  | { id: number; contents: Pkcs12Contents }
  | { id: number; error: { code?: Pkcs12ErrorCode; message: string; limit?: Pkcs12Limit } };

parentPort?.on('message', ({ id, der, password }: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    reply = { id, contents: parsePkcs12(Buffer.from(der.buffer, der.byteOffset, der.byteLength), password) };
  } catch (e) {
    reply =
      e instanceof Pkcs12Error
        ? { id, error: { code: e.code, message: e.message, ...(e.limit && { limit: e.limit }) } }
        : { id, error: { message: e instanceof Error ? e.message : String(e) } };
  }
  parentPort!.postMessage(reply);
});
