/**
 * Errors of the HIL harness: real `Error` subclasses with a stable `code` (tests match on it,
 * never on message text) and, for scenario problems, the JSON path at fault.
 */

export type HilErrorCode =
  | 'HIL_SCENARIO_INVALID'
  | 'HIL_SCENARIO_UNREADABLE'
  | 'HIL_USAGE'
  | 'HIL_RIG_FAILED'
  | 'HIL_AGENT_FAILED';

export abstract class HilError extends Error {
  abstract readonly code: HilErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A scenario that does not validate; `path` names the offending field (`faults[2].code`). */
export class HilScenarioError extends HilError {
  readonly code = 'HIL_SCENARIO_INVALID';
  constructor(
    readonly source: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${source}: ${path === '' ? '(top level)' : path}: ${problem}`);
  }
}

/** A scenario file that cannot be read or is not JSON. */
export class HilScenarioUnreadableError extends HilError {
  readonly code = 'HIL_SCENARIO_UNREADABLE';
}

/** Bad command-line arguments. */
export class HilUsageError extends HilError {
  readonly code = 'HIL_USAGE';
}

/** The rig (simulator or hardware link) could not be set up. */
export class HilRigError extends HilError {
  readonly code = 'HIL_RIG_FAILED';
}

/** The agent process could not be started or did not come up. */
export class HilAgentError extends HilError {
  readonly code = 'HIL_AGENT_FAILED';
}
