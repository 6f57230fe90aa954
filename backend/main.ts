// Command-line entry: `node backend/main.ts` (or the compiled main.js in the container).
// Settings come from the environment (see docs/backend.md); a bad setting or store is reported
// as one line on stderr with exit code 1. SIGTERM/SIGINT/SIGHUP drain in-flight requests, then exit 0.
import { writeSync } from 'node:fs';
import { settingsFromEnv, SettingsError, startBackend, StoreError } from './server.ts';

function fail(message: string): never {
  writeSync(2, `backend: ${message}\n`);
  process.exit(1);
}

let backend;
try {
  backend = await startBackend(settingsFromEnv());
} catch (error) {
  if (error instanceof SettingsError || error instanceof StoreError) fail(error.message);
  fail(`${(error as Error).name}: ${(error as Error).message}`);
}

const running = backend;
let signals = 0;
// SIGHUP too (a closed terminal, `kill -HUP`): Node's default would exit at once, cutting requests
// in flight without a "stopped" line; a JVM, like the Spring service, runs its graceful shutdown.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(signal, () => {
    // A second signal means "now": skip the drain.
    if (++signals > 1) process.exit(1);
    void running.close().then(() => process.exit(0));
  });
}
