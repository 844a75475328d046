import { resolve } from 'node:path';
import { parseCli } from '../../cli';
import { loadApp } from '../appLoader';
import { connectToLocalAzure, AZURE_OPTIONS } from '../azureArgs';
import { FunctionRegistry } from '../core';
import { asError, invokeFunction, settle, type Settled } from '../invoke';
import { observeAppExecutors, withExecutor } from '../durable/executor';
import { snapshotEpisode } from '../durable/snapshot';
import type { Episode, FromWorker, ToWorker } from './protocol';

/**
 * A worker process of the local host (`node dist/local/host/worker/main.js --app <dir> [--azure-…]`),
 * started by the host with `fork` (worker/pool.ts), never by hand. It loads the app as the host does and
 * runs the invocations the host sends it, one answer each. It ends with its host: when the IPC channel
 * closes (the host stopped, or was killed), it exits at once; what it was running is abandoned, as an
 * instance's work is when the instance goes, and the host's recovery runs it again.
 */
function main(): void {
  const send = (message: FromWorker) => {
    // The channel may close between a check and the send (the host went): then nobody is listening.
    if (!process.connected) return;
    try {
      process.send?.(message);
    } catch (e) {
      // A value the channel cannot carry (structured clone refused it): the invocation fails once
      // rather than the worker dying on it and the host running it again, and again.
      if (message.kind === 'done')
        process.send?.({
          kind: 'failed',
          id: message.id,
          error: { message: `the worker could not send the answer: ${String(e)}`, stack: undefined },
        } satisfies FromWorker);
    }
  };
  if (process.send === undefined) {
    console.error('[worker] start me through the local host (--workers), not by hand');
    process.exit(2);
  }
  process.on('disconnect', () => process.exit());
  try {
    const cli = parseCli({ app: { type: 'string' }, ...AZURE_OPTIONS });
    connectToLocalAzure(cli);
    const registry = new FunctionRegistry();
    registry.log = (level, category, message) => send({ kind: 'systemLog', level, category, message });
    const appRoot = resolve(cli.string('app') ?? '.');
    loadApp(registry, appRoot);
    // Orchestrator replays run here too: the host learns the task ids from this process's executor.
    observeAppExecutors(appRoot);
    process.on('message', (message: ToWorker) => {
      const fn = registry.get(message.functionName);
      if (fn === undefined) {
        send({
          kind: 'failed',
          id: message.id,
          error: { message: `the worker has no function named ${message.functionName}`, stack: undefined },
        });
        return;
      }
      const invoke = () =>
        invokeFunction(registry, fn, message.request, (level, text) =>
          send({ kind: 'log', id: message.id, level, message: text }),
        );
      const answer = (outcome: Settled, episode?: Episode) => {
        if (outcome.ok)
          send({ kind: 'done', id: message.id, result: outcome.result, ...(episode ? { episode } : {}) });
        else {
          send({
            kind: 'failed',
            id: message.id,
            error: { message: outcome.error.message, stack: outcome.error.stack },
            ...(episode ? { episode } : {}),
          });
        }
      };
      const { instanceId } = message;
      if (instanceId === undefined) {
        void settle(invoke()).then((outcome) => answer(outcome));
        return;
      }
      void withExecutor(instanceId, () => settle(invoke())).then(
        ({ result, executor, fireAndForget, history }) => {
          // What the host schedules is read only from a replay that succeeded, as in the host's process.
          // Never the executor itself: it is not data. An empty view says this process observed one.
          if (!result.ok || executor === undefined) {
            answer(result, {
              executor: executor === undefined ? undefined : { openTasks: {} },
              fireAndForget: [],
            });
            return;
          }
          let episode: Episode;
          try {
            episode = snapshotEpisode(executor, fireAndForget, history);
          } catch (e) {
            // An action the host could not have scheduled either (an invalid timer date): the replay
            // fails, once, instead of the worker dying on it and the host sending it again.
            answer({ ok: false, error: asError(e) });
            return;
          }
          answer(result, episode);
        },
      );
    });
    send({ kind: 'ready', functions: [...registry.functions.values()].map((f) => f.metadata.name) });
  } catch (e) {
    process.exitCode = 1;
    // Closed once the message is out: a disconnect right after send() could drop it.
    process.send(
      { kind: 'loadFailed', message: e instanceof Error ? e.message : String(e) } satisfies FromWorker,
      () => process.disconnect(),
    );
  }
}

main();
