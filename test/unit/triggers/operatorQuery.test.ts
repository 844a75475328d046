import { OperatorRequestError } from '../../../shared/triggers/operator';
import { guardOperatorCall } from '../../../shared/triggers/operatorApi';
import {
  OperatorQueryError,
  parseOperatorQuery,
  queryPairs,
  querySpecOf,
} from '../../../shared/triggers/operatorQuery';
import { MemoryAudit } from './fakes';

const POST_ROTATION = querySpecOf('keyRotationApi', 'POST');
const pairs = (query: string) => queryPairs(`https://app.azurewebsites.net/api/x?${query}`);

describe('strict query parameters of the operator API', () => {
  it.each([
    ['dryRun=1', 'must be exactly true or false, not "1"'],
    ['dryRun=TRUE', 'must be exactly true or false, not "TRUE"'],
    ['dryRun=', 'must be exactly true or false, not a value that is not plain text'],
    ['dryrun=true', 'Unknown query parameter "dryrun": accepted: dryRun (true | false)'],
    ['dry-run=true', 'Unknown query parameter "dry-run"'],
    ['DryRun=true', 'Unknown query parameter "DryRun"'],
    ['dryRun=true&dryRun=true', '"dryRun" is given twice'],
  ])('refuses %s, naming what is accepted', (query, words) => {
    expect(() => parseOperatorQuery(POST_ROTATION, pairs(query))).toThrow(OperatorQueryError);
    expect(() => parseOperatorQuery(POST_ROTATION, pairs(query))).toThrow(words);
  });

  it.each([
    ['dryRun=true', { dryRun: true }],
    ['dryRun=false', { dryRun: false }],
    ['', {}],
    ['code=the-function-key', {}],
  ])('reads %s exactly', (query, booleans) => {
    expect(parseOperatorQuery(POST_ROTATION, pairs(query)).booleans).toEqual(booleans);
  });

  it('refuses any parameter on an endpoint that takes none, and never echoes a value that could be a key', () => {
    const spec = querySpecOf('listRotations', 'GET');
    expect(() => parseOperatorQuery(spec, pairs('all=true'))).toThrow(
      'Unknown query parameter "all": this endpoint takes no query parameters',
    );
    // A mistyped `code` carries the function key: its value is never repeated.
    const key = 'AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789==';
    expect(() => parseOperatorQuery(spec, pairs(`cod=${key}`))).toThrow('"cod"');
    try {
      parseOperatorQuery(POST_ROTATION, pairs(`dryRun=${key}`));
    } catch (e) {
      expect((e as Error).message).not.toContain(key);
    }
  });

  it('takes source on the replay as one line of text', () => {
    const spec = querySpecOf('replayEvents', 'POST');
    expect(parseOperatorQuery(spec, pairs('source=blob%2F1.json')).texts).toEqual({ source: 'blob/1.json' });
    expect(() => parseOperatorQuery(spec, pairs('source=a%0Ab'))).toThrow('one line');
    expect(() => parseOperatorQuery(spec, pairs(`source=${'x'.repeat(301)}`))).toThrow('1 to 300');
  });
});

describe('guardOperatorCall', () => {
  const call = {
    route: 'keyRotationApi',
    method: 'POST',
    caller: 'ops@contoso.com',
    invocationId: 'inv-1',
    vault: 'contoso-pg-kv',
    key: 'pg-cmk',
  };

  it('answers a bad query 400 with the accepted values without running the handler, and audits the refusal', async () => {
    const audit = new MemoryAudit();
    let ran = false;
    const res = await guardOperatorCall(
      audit,
      call,
      POST_ROTATION,
      'https://app/api/rotations/contoso-pg-kv/pg-cmk?dryRun=1&code=secret-key',
      () => {
        ran = true;
        return Promise.resolve({ status: 202 });
      },
    );
    expect(ran).toBe(false);
    expect(res.status).toBe(400);
    expect(res.jsonBody).toMatchObject({
      code: 'InvalidQueryParameter',
      accepted: { dryRun: 'true | false' },
    });
    expect(audit.records).toEqual([
      expect.objectContaining({
        step: 'OperatorRequestRefused',
        correlationId: 'inv-1',
        trigger: 'operator:ops@contoso.com',
        outcome: 'failure',
        vault: 'contoso-pg-kv',
        key: 'pg-cmk',
        reasonCode: 'InvalidQueryParameter',
        details: { route: 'keyRotationApi', method: 'POST', status: '400' },
      }),
    ]);
    expect(JSON.stringify(audit.records)).not.toContain('secret-key');
  });

  it('audits a refusal of the handler (vault not allowed) and not a success; a path segment that is not a name is left out', async () => {
    const audit = new MemoryAudit();
    const refused = await guardOperatorCall(
      audit,
      { ...call, vault: 'https://evil/x?y' },
      POST_ROTATION,
      'https://app/api/x',
      () => Promise.reject(new OperatorRequestError('Vault "x" is not in CMK_ALLOWED_VAULTS.')),
    );
    expect(refused.status).toBe(400);
    const ok = await guardOperatorCall(audit, call, POST_ROTATION, 'https://app/api/x?dryRun=true', (q) =>
      Promise.resolve({ status: 200, jsonBody: { dryRun: q.booleans['dryRun'] } }),
    );
    expect(ok).toEqual({ status: 200, jsonBody: { dryRun: true } });
    expect(audit.records).toHaveLength(1);
    expect(audit.records[0]).toMatchObject({ reasonCode: 'InvalidOperatorRequest' });
    expect(audit.records[0]).not.toHaveProperty('vault');
  });

  it('still answers the refusal when the audit trail refuses the record', async () => {
    const res = await guardOperatorCall(
      { record: () => Promise.reject(new Error('ingestion down')) },
      call,
      POST_ROTATION,
      'https://app/api/x?dryrun=true',
      () => Promise.resolve({ status: 202 }),
    );
    expect(res.status).toBe(400);
  });
});
