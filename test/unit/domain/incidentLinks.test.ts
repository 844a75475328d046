import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pageLinks, runbookSection, RUNBOOK_SECTIONS } from '../../../shared/domain/incidentLinks';

/** GitHub's heading anchors: lower-case, punctuation dropped, spaces to hyphens. */
const anchors = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'runbook.md'), 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('## '))
  .map((l) =>
    l
      .slice(3)
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N} -]/gu, '')
      .replace(/ /g, '-'),
  );

describe('page links', () => {
  it.each(Object.values(RUNBOOK_SECTIONS).map((s) => [s]))(
    'the runbook section %s exists in docs/runbook.md (a page never links a missing anchor)',
    (section) => {
      expect(anchors).toContain(section);
    },
  );

  it('links the section for the class, then the status page; base URL fragments are replaced', () => {
    expect(
      pageLinks(
        { dedupKey: 'cmk:kv:k:v:expiry:critical', facts: { reasonCode: 'KeyExpired' } },
        {
          runbookBaseUrl: 'https://x.example/runbook.md#old',
          statusPageUrl: 'https://app.example/api/status',
        },
      ).map((l) => l.href),
    ).toEqual([
      'https://x.example/runbook.md#recovering-an-inaccessible-server',
      'https://app.example/api/status',
    ]);
    expect(runbookSection({ dedupKey: 'cmk-health:pg:1', facts: {} })).toBe(RUNBOOK_SECTIONS.health);
    expect(pageLinks({ dedupKey: 'x', facts: {} }, {})).toEqual([]);
  });
});
