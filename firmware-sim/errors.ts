/**
 * Errors raised by the simulated XR-200 controller. Every error is a real `Error` subclass with a
 * stable `code` (tests and the control channel match on `code`, never on message text) and, where
 * one exists, the underlying `cause`. Modbus-facing errors also carry `modbusErrorCode`, which
 * modbus-serial's server turns into a Modbus exception response.
 */

/** Stable codes of every simulator error. */
export const SimErrorCodes = {
  UNKNOWN_ERROR_CODE: 'SIM_UNKNOWN_ERROR_CODE',
  BAD_COMMAND: 'SIM_BAD_COMMAND',
  BAD_ARGUMENT: 'SIM_BAD_ARGUMENT',
  EXPOSURE_INHIBITED: 'SIM_EXPOSURE_INHIBITED',
  MAP_INVALID: 'SIM_MAP_INVALID',
  MODBUS_EXCEPTION: 'SIM_MODBUS_EXCEPTION',
  LISTEN_FAILED: 'SIM_LISTEN_FAILED',
  CLOSED: 'SIM_CLOSED',
} as const;

export type SimErrorCode = (typeof SimErrorCodes)[keyof typeof SimErrorCodes];

/** Base class of every simulator error. */
export abstract class SimError extends Error {
  abstract readonly code: SimErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A code that is not in protocols/error-codes.json was injected or cleared. */
export class SimUnknownErrorCodeError extends SimError {
  readonly code = SimErrorCodes.UNKNOWN_ERROR_CODE;
  constructor(readonly errorCode: unknown) {
    super(`error code ${String(errorCode)} is not in the XR-200 error catalogue`);
  }
}

/** A control command that could not be parsed or is not understood. */
export class SimBadCommandError extends SimError {
  readonly code = SimErrorCodes.BAD_COMMAND;
}

/** A well-formed request whose value is out of range (negative exposure count, kV of 0, ...). */
export class SimBadArgumentError extends SimError {
  readonly code = SimErrorCodes.BAD_ARGUMENT;
}

/** Why the controller refused an exposure. */
export type InhibitReason = 'door-open' | 'tube-overheat' | 'detector-link-lost';

/** A requested exposure was refused by an interlock (door open, tube overheated). */
export class SimExposureInhibitedError extends SimError {
  readonly code = SimErrorCodes.EXPOSURE_INHIBITED;
  constructor(readonly reason: InhibitReason) {
    super(`exposure inhibited: ${reason}`);
  }
}

/** The register map is not usable (bad type, overlap, a counter the controller does not have). */
export class SimMapInvalidError extends SimError {
  readonly code = SimErrorCodes.MAP_INVALID;
}

/** Modbus exception codes this device answers with (Modbus Application Protocol v1.1b3, §7). */
export const ModbusExceptionCodes = {
  ILLEGAL_FUNCTION: 0x01,
  ILLEGAL_DATA_ADDRESS: 0x02,
  ILLEGAL_DATA_VALUE: 0x03,
} as const;

export type ModbusExceptionCode = (typeof ModbusExceptionCodes)[keyof typeof ModbusExceptionCodes];

/**
 * A request the device answers with a Modbus exception. modbus-serial's server reads
 * `modbusErrorCode` from the error it is handed and sends `function | 0x80, modbusErrorCode`.
 */
export class SimModbusExceptionError extends SimError {
  readonly code = SimErrorCodes.MODBUS_EXCEPTION;
  constructor(
    readonly modbusErrorCode: ModbusExceptionCode,
    message: string,
  ) {
    super(message);
  }
}

/** A listening socket (Modbus TCP face, control channel) could not be opened. */
export class SimListenFailedError extends SimError {
  readonly code = SimErrorCodes.LISTEN_FAILED;
}

/** An operation on a simulator that has been closed. */
export class SimClosedError extends SimError {
  readonly code = SimErrorCodes.CLOSED;
  constructor() {
    super('the simulator is closed');
  }
}
