import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SPECS } from './specs';

/**
 * Azure's published Key Vault sample events, verbatim from the fixtures: the spec repository's
 * examples (one event, both schemas) and the docs article's samples (a one-event batch, both schemas,
 * with the trailing-space key and leading-space version). All are `SecretNewVersionCreated`: Azure
 * publishes no key sample.
 */
export interface PublishedSample {
  readonly name: string;
  readonly schema: 'EventGrid' | 'CloudEvents';
  /** The sample's JSON text exactly as published (a delivery body). */
  readonly text: string;
}

const EVENTS = join(SPECS, 'eventgrid-keyvault-events');

function docsSamples(): PublishedSample[] {
  const md = readFileSync(join(EVENTS, 'azure-docs', 'event-schema-key-vault.2021-02-11.md'), 'utf8');
  const blocks = [...md.matchAll(/```JSON\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  if (blocks.length !== 2)
    throw new Error(`expected 2 sample events in the docs article, found ${blocks.length}`);
  return blocks.map((text) => ({
    name: `docs article, ${text.includes('"specversion"') ? 'CloudEvents' : 'Event Grid'} schema`,
    schema: text.includes('"specversion"') ? 'CloudEvents' : 'EventGrid',
    text,
  }));
}

export function publishedSamples(): PublishedSample[] {
  return [
    ...(['event-grid-schema', 'cloud-events-schema'] as const).map((dir) => ({
      name: `spec example ${dir}/secret_new_version_created.json`,
      schema: dir === 'event-grid-schema' ? ('EventGrid' as const) : ('CloudEvents' as const),
      text: readFileSync(
        join(EVENTS, '2018-01-01', 'examples', dir, 'secret_new_version_created.json'),
        'utf8',
      ),
    })),
    ...docsSamples(),
  ];
}

/**
 * The same sample as a key event of `vault`/`key`: "Secret" -> "Key", "secrets" -> "keys", the
 * sample vault and object renamed. Every quirk of the sample (string NBF/EXP, whitespace) stays.
 */
export function asKeyEvent(text: string, vault = 'sample-kv', key = 'pg-cmk'): string {
  return text
    .replace(/Secret/g, 'Key')
    .replace(/secrets/g, 'keys')
    .replace(/newsecret/g, key)
    .replace(/sample-kv/g, vault);
}

/** The version every published sample names (with a leading space in the docs article's). */
export const SAMPLE_VERSION = 'ee059b2bb5bc48398a53b168c6cdcb10';
export const SAMPLE_NBF = 1559081980;
