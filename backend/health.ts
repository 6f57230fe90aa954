// Plain-HTTP probes on their own port: Kubernetes probes cannot present a client certificate.
// /healthz (alive) and /readyz (accepting work; 503 while draining). Spring Boot's actuator
// paths answer too, so probes written for the original service keep working.
import { createServer, type Server } from 'node:http';

const UP = Buffer.from('{"status":"UP"}');
const DOWN = Buffer.from('{"status":"OUT_OF_SERVICE"}');
const MISSING = Buffer.from('{"error":"not found"}');

const LIVENESS = new Set(['/healthz', '/livez', '/actuator/health/liveness']);
const READINESS = new Set(['/readyz', '/actuator/health', '/actuator/health/readiness']);

export function createHealthServer(isReady: () => boolean): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    let status = 404;
    let body = MISSING;
    if (LIVENESS.has(path)) [status, body] = [200, UP];
    else if (READINESS.has(path)) [status, body] = isReady() ? [200, UP] : [503, DOWN];
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
}
