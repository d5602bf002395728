#!/usr/bin/env node
/** @file The graft command line: `graft finetune`, `graft compare` and `graft pretrain`, offline; usage errors are one line, never a stack trace. */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { compareCommand, runCompare } from './cli/compare.js';
import { finetuneCommand, runFinetune } from './cli/finetune.js';
import { UsageError, parseOptions, usage } from './cli/options.js';
import { pretrainCommand, runPretrain } from './cli/pretrain.js';

const HELP = `graft: fine-tune pre-trained models offline.

Usage:
  graft finetune [options]   ${finetuneCommand.summary.split('\n')[0]}
  graft compare [options]    ${compareCommand.summary}
  graft pretrain [options]   ${pretrainCommand.summary}
  graft help [COMMAND]       this text, or a command's options (also: graft COMMAND --help)
`;

/** Runs one command line; a bad one throws a UsageError before any work is done. */
export async function main(argv: readonly string[]): Promise<void> {
  const [command = 'help', ...rest] = argv;
  if (command === 'finetune') {
    const p = parseOptions(finetuneCommand, rest);
    if (p.help) console.log(usage(finetuneCommand));
    else await runFinetune(p.values, p.given);
  } else if (command === 'compare') {
    const p = parseOptions(compareCommand, rest);
    if (p.help) console.log(usage(compareCommand));
    else await runCompare(p.values, p.given);
  } else if (command === 'pretrain') {
    const p = parseOptions(pretrainCommand, rest);
    if (p.help) console.log(usage(pretrainCommand));
    else await runPretrain(p.values);
  } else if (command === 'help' || command === '--help' || command === '-h') {
    const which = rest[0];
    if (which === 'finetune') console.log(usage(finetuneCommand));
    else if (which === 'compare') console.log(usage(compareCommand));
    else if (which === 'pretrain') console.log(usage(pretrainCommand));
    else if (which === undefined) console.log(HELP);
    else throw new UsageError(`unknown command '${which}' (finetune, compare, pretrain)`);
  } else throw new UsageError(`unknown command '${command}' (finetune, compare, pretrain, help)`);
}

/** The message a person reads: graft's own errors and system errors as one line; a stack only with GRAFT_DEBUG=1. */
export function describeFailure(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const hint = e instanceof UsageError ? `\nrun 'graft ${e.command ? `${e.command} --help` : 'help'}' for the options` : '';
  const stack = process.env.GRAFT_DEBUG === '1' && e instanceof Error ? `\n${e.stack}` : '';
  return `graft: ${message}${hint}${stack}`;
}

// Run when this file is the program (also through the node_modules/.bin/graft link), not when imported.
if (process.argv[1] && pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(describeFailure(e));
    process.exit(e instanceof UsageError ? 2 : 1);
  });
}
