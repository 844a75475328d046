import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { request } from 'node:https';
import { connect } from 'node:net';
import { UnitTierEscape } from '../support/unitTier';

/**
 * The unit tier's guard (test/support/unitTier.ts, the `unit` project's setupFilesAfterEnv) is on in every
 * unit suite: a unit test that opens a socket or starts a process fails, naming where it belongs.
 */
describe('the unit tier opens no sockets and starts no processes', () => {
  it.each<[string, () => unknown]>([
    ['a TCP connection', () => connect(443, '127.0.0.1')],
    ['an HTTPS request (what the Azure SDK clients end in)', () => request('https://127.0.0.1:65000/').end()],
    ['a listening server (a stand-in, the local host)', () => createServer().listen(0)],
    ['a child process started with spawn', () => spawn(process.execPath, ['--version'])],
    ['a child process started with execFileSync', () => execFileSync('git', ['--version'])],
  ])('%s throws UnitTierEscape', (_what, escape) => {
    expect(escape).toThrow(UnitTierEscape);
  });

  it('fetch is refused too (its socket is a net.Socket)', async () => {
    const failure = await fetch('https://127.0.0.1:65000/').then(
      () => undefined,
      (e: unknown) => e,
    );
    // fetch's errors come from Node's own realm and undici re-wraps the cause: compare names and messages.
    expect(failure).toMatchObject({
      name: 'TypeError',
      cause: { message: expect.stringContaining('net.Socket#connect) in the unit tier') as unknown },
    });
  });
});
