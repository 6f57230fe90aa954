// The programs the kit runs: whether one is installed, and how to install it when it is not.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { MissingToolError } from './errors.ts';

/** How to get each program on Debian/Ubuntu (or where to get it). */
const INSTALL_HINTS: Readonly<Record<string, string>> = {
  openssl: 'apt-get install openssl',
  keytool: 'apt-get install openjdk-17-jre-headless',
  java: 'apt-get install openjdk-17-jre-headless',
  curl: 'apt-get install curl',
  gcloud: 'see https://cloud.google.com/sdk/docs/install',
  kubectl: 'gcloud components install kubectl (or apt-get install kubectl)',
  docker: 'see https://docs.docker.com/engine/install/',
};

/** True when an executable of that name is on PATH (checked without starting it). */
export function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir || '.', tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The error for a program that is not installed, naming how to install it. */
export function missingTool(tool: string, hint?: string): MissingToolError {
  const known = Object.hasOwn(INSTALL_HINTS, tool) ? INSTALL_HINTS[tool] : undefined;
  return new MissingToolError(tool, hint ?? known ?? `your package manager (${tool})`);
}

/** Throws MissingToolError unless `tool` is on PATH (a pre-flight check, before anything is written). */
export function requireTool(tool: string, hint?: string): void {
  if (!onPath(tool)) throw missingTool(tool, hint);
}
