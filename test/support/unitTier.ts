import childProcess from 'node:child_process';
import net from 'node:net';

/**
 * The unit tier (`npm run test:unit`, jest project `unit`) runs without processes and without the network:
 * no build, no TLS, no stand-ins. While a unit suite runs, every way out throws — opening or accepting a
 * socket (`net.Socket#connect` is what `http`, `https`, `tls`, `fetch` and the Azure SDKs end in;
 * `net.Server#listen` is every server) and starting a process (each `child_process` entry point:
 * `execFileSync` does not go through the exported `spawnSync`). The unit project's test environment
 * (unitTierEnvironment.ts) closes them in its setup and reopens them in its teardown, which jest runs
 * even when a suite fails to load: the other tiers' suites run in the same worker processes. A suite that
 * needs a socket or a process belongs in `test/integration` (or a later tier).
 */
export class UnitTierEscape extends Error {
  readonly code = 'UNIT_TIER_ESCAPE';
  constructor(what: string) {
    super(
      `${what} in the unit tier: unit tests start no processes and open no sockets; ` +
        'move this suite to test/integration (mirroring its path)',
    );
    this.name = 'UnitTierEscape';
  }
}

type Patch = { target: object; name: string; original: unknown };

const CHILD_PROCESS = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const;

function refuse(target: object, name: string, what: string): Patch {
  const original: unknown = Reflect.get(target, name);
  Reflect.set(target, name, function refused(): never {
    throw new UnitTierEscape(what);
  });
  return { target, name, original };
}

/** Makes sockets and processes throw; returns the undo. */
export function closeTheWayOut(): () => void {
  const patches: Patch[] = [
    refuse(net.Socket.prototype, 'connect', 'a network connection (net.Socket#connect)'),
    refuse(net.Server.prototype, 'listen', 'a listening server (net.Server#listen)'),
    ...CHILD_PROCESS.map((name) => refuse(childProcess, name, `a child process (child_process.${name})`)),
  ];
  return () => {
    for (const p of patches.reverse()) Reflect.set(p.target, p.name, p.original);
  };
}
