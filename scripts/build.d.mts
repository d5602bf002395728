// Types for build.mjs, which runs under plain Node.
import type { Plugin } from 'esbuild';

export const selfImport: Plugin;
export const browserPlatform: Plugin;
export function buildAll(): Promise<void>;
