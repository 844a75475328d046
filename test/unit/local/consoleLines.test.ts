import { consoleLine, flushConsoleLines } from '../../../local/host/consoleLines';

describe("the local host's console lines", () => {
  afterEach(() => jest.restoreAllMocks());

  it('writes the lines of one turn of the event loop in order, with one write', async () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    for (let i = 0; i < 50; i++) consoleLine(`line ${i}`);
    expect(write).not.toHaveBeenCalled();
    await new Promise((r) => setImmediate(r));
    expect(write).toHaveBeenCalledTimes(1);
    expect(write.mock.calls[0]?.[0]).toBe(Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join(''));
  });

  it('writes what is pending at once when asked (before READY, at exit), and nothing twice', async () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    consoleLine('loaded 12 functions');
    flushConsoleLines();
    expect(write.mock.calls.map((c) => c[0])).toEqual(['loaded 12 functions\n']);
    await new Promise((r) => setImmediate(r));
    expect(write).toHaveBeenCalledTimes(1);
  });
});
