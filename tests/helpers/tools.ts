// Commands the suite needs on every machine of this project (.ci/run installs them). A missing one
// fails the test that needs it with a one-line reason: a test must never pass without checking.
import { onPath } from '../../core/tools.ts';

const DEBIAN_PACKAGE: Record<string, string> = {
  java: 'openjdk-17-jdk-headless',
  keytool: 'openjdk-17-jdk-headless',
  'systemd-analyze': 'systemd',
};

/** Throws when `command` is not on PATH, naming the Debian package that provides it. */
export function requireCommand(command: string): void {
  if (onPath(command)) return;
  const pkg = DEBIAN_PACKAGE[command];
  throw new Error(`${command} not found on PATH${pkg ? `: install the Debian package ${pkg} (.ci/run does)` : ''}`);
}

