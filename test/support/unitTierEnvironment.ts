import NodeEnvironment from 'jest-environment-node';
import { closeTheWayOut } from './unitTier';

/** The unit tier's test environment: Node's, with sockets and child processes closed (unitTier.ts). */
export default class UnitTierEnvironment extends NodeEnvironment {
  private reopen: (() => void) | undefined;

  override async setup(): Promise<void> {
    await super.setup();
    this.reopen = closeTheWayOut();
  }

  override async teardown(): Promise<void> {
    this.reopen?.();
    this.reopen = undefined;
    await super.teardown();
  }
}
