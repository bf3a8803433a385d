import protobuf from 'protobufjs/minimal.js';

type Long64 = number | { toNumber(): number };

function toNumber(value: Long64): number {
  return typeof value === 'number' ? value : value.toNumber();
}

/**
 * A protobuf reader that yields 64-bit integers as JS numbers instead of `Long` objects,
 * without changing protobufjs's global configuration (an OEM's own protobuf code in the same
 * process keeps its behaviour). Every 64-bit field in the protocol (sequence numbers, Unix
 * milliseconds, raw register values) stays far below 2^53; the envelope decoder still checks
 * sequence numbers with `Number.isSafeInteger`.
 */
export class NumberReader extends protobuf.Reader {
  override int64(): number {
    return toNumber(super.int64() as Long64);
  }
  override uint64(): number {
    return toNumber(super.uint64() as Long64);
  }
  override sint64(): number {
    return toNumber(super.sint64() as Long64);
  }
  override fixed64(): number {
    return toNumber(super.fixed64() as Long64);
  }
  override sfixed64(): number {
    return toNumber(super.sfixed64() as Long64);
  }
}

/** A reader over `bytes` for the generated `decode` functions. */
export function reader(bytes: Uint8Array): protobuf.Reader {
  return new NumberReader(bytes);
}
