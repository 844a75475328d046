import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { request } from 'node:https';
import { connect } from 'node:net';

/**
 * The unit tier's guard (test/support/unitTier.ts, closed by the `unit` project's test environment) is on
 * in every unit suite: a unit test that opens a socket or starts a process fails, naming where it belongs.
 * The error is made outside the test's realm (in the environment): matched by its message, not its class.
 */
const ESCAPE =
  /\) in the unit tier: unit tests start no processes and open no sockets; move this suite to test\/integration/;
describe('the unit tier opens no sockets and starts no processes', () => {
  it.each<[string, () => unknown]>([
    ['a TCP connection', () => connect(443, '127.0.0.1')],
    ['an HTTPS request (what the Azure SDK clients end in)', () => request('https://127.0.0.1:65000/').end()],
    ['a listening server (a stand-in, the local host)', () => createServer().listen(0)],
    ['a child process started with spawn', () => spawn(process.execPath, ['--version'])],
    ['a child process started with execFileSync', () => execFileSync('git', ['--version'])],
  ])('%s throws UnitTierEscape', (_what, escape) => {
    expect(escape).toThrow(ESCAPE);
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
