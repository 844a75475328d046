import { KeyClient } from '@azure/keyvault-keys';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTokenCredential } from '../../../local/azure/credential';
import { loopbackClientOptions } from '../../../local/azure/seam';
import { KEY, VAULT_URL, testFleet } from '../../support/fleet';
import { FIXTURE_APP, readyLine, type LocalReady } from '../../support/hostProcess';
import { APP_PRINCIPAL, waitFor } from '../../support/localAzure';

describe('npm run local: local Azure and the host, wired by Event Grid', () => {
  it('subscribes the app’s Event Grid trigger and delivers a real key rotation to it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'local-'));
    const fleetFile = join(dir, 'fleet.json');
    const outFile = join(dir, 'out.jsonl');
    writeFileSync(fleetFile, JSON.stringify(testFleet().fleet));
    const child = spawn(
      process.execPath,
      [
        join(__dirname, '..', '..', '..', 'dist', 'local', 'main.js'),
        '--fleet',
        fleetFile,
        '--app',
        FIXTURE_APP,
        '--data',
        join(dir, 'host'),
      ],
      {
        env: { ...process.env, FIXTURE_OUT: outFile },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    try {
      const ready = await waitFor(
        'READY',
        () => {
          return readyLine(output) as LocalReady | undefined;
        },
        30_000,
      );
      expect(ready.eventGridSubscriptions).toEqual(['onevent-sub']);
      expect(ready.hostUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

      const keys = new KeyClient(
        VAULT_URL,
        new LocalTokenCredential(APP_PRINCIPAL, ready.tenantId),
        loopbackClientOptions({ port: ready.port, caCertPem: readFileSync(ready.caCertPath, 'utf8') }),
      );
      const rotated = await keys.rotateKey(KEY);
      const delivered = await waitFor('the event to reach the function', () => {
        const lines = (() => {
          try {
            return readFileSync(outFile, 'utf8').split('\n');
          } catch {
            return [];
          }
        })();
        return lines.find((l) => l.includes('"event"') && l.includes('KeyNewVersionCreated'));
      });
      expect(delivered).toContain('pg-cmk');
      expect(rotated.properties.version).toBeDefined();
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    expect(output).toContain('SIGTERM: shutting down');
  });
});
