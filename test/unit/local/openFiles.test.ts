import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenFiles } from '../../../local/host/durable/openFiles';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const fsPromises = require('node:fs/promises') as { open: unknown };

function files(n: number): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'open-files-'));
  return Array.from({ length: n }, (_, i) => {
    const path = join(dir, `f${i}`);
    writeFileSync(path, '');
    return path;
  });
}

const append = (text: string) => async (file: FileHandle) => {
  const { size } = await file.stat();
  await file.write(text, size);
};

describe('the files the local store keeps open', () => {
  afterEach(() => jest.restoreAllMocks());

  it('opens a file once for every use, and closes the least recently used past the limit', async () => {
    const paths = files(3);
    const open = jest.spyOn(fsPromises, 'open' as never);
    const kept = new OpenFiles(2);
    for (const round of ['a', 'b'])
      for (const [i, p] of paths.slice(0, 2).entries()) await kept.with(`k${i}`, p, 'r+', append(round));
    expect(open).toHaveBeenCalledTimes(2);
    await kept.with('k2', paths[2] ?? '', 'r+', append('c'));
    expect(kept.size).toBe(2);
    // k0 was the least recently used: closed, so using it again opens it again; k1 is still open.
    await kept.with('k1', paths[1] ?? '', 'r+', append('d'));
    expect(open).toHaveBeenCalledTimes(3);
    await kept.with('k0', paths[0] ?? '', 'r+', append('e'));
    expect(open).toHaveBeenCalledTimes(4);
    expect(paths.map((p) => readFileSync(p, 'utf8'))).toEqual(['abe', 'abd', 'c']);
  });

  it('never closes a file while it is being written through', async () => {
    const paths = files(3);
    const kept = new OpenFiles(1);
    let release: () => void = () => undefined;
    const held = kept.with('k0', paths[0] ?? '', 'r+', async (file) => {
      await new Promise<void>((r) => (release = r));
      await append('late')(file);
    });
    await new Promise((r) => setImmediate(r));
    await kept.with('k1', paths[1] ?? '', 'r+', append('x'));
    await kept.with('k2', paths[2] ?? '', 'r+', append('y'));
    release();
    await held;
    expect(paths.map((p) => readFileSync(p, 'utf8'))).toEqual(['late', 'x', 'y']);
  });

  it('opens the file again after a use that failed', async () => {
    const paths = files(1);
    const open = jest.spyOn(fsPromises, 'open' as never);
    const kept = new OpenFiles(4);
    await expect(
      kept.with('k', paths[0] ?? '', 'r+', () => Promise.reject(new Error('disk full'))),
    ).rejects.toThrow('disk full');
    expect(kept.size).toBe(0);
    await kept.with('k', paths[0] ?? '', 'r+', append('ok'));
    expect(open).toHaveBeenCalledTimes(2);
    expect(readFileSync(paths[0] ?? '', 'utf8')).toBe('ok');
  });
});
