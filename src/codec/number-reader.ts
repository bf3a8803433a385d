import protobuf from 'protobufjs/minimal.js';

type Long64 = number | { toNumber(): number };
// protobufjs types its 64-bit reads as Long; this reader returns plain numbers instead, which
// is what the generated typings (--force-number) promise. The cast is confined to this file.
type LongType = ReturnType<protobuf.Reader['int64']>;

function toNumber(value: unknown): LongType {
  const v = value as Long64;
  return (typeof v === 'number' ? v : v.toNumber()) as unknown as LongType;
}

/**
 * A protobuf reader that yields 64-bit integers as JS numbers instead of `Long` objects,
 * without changing protobufjs's global configuration (an OEM's own protobuf code in the same
 * process keeps its behaviour). Every 64-bit field in the protocol (sequence numbers, Unix
 * milliseconds, raw register values) stays far below 2^53; the envelope decoder still checks
 * sequence numbers with `Number.isSafeInteger`.
 */
export class NumberReader extends protobuf.Reader {
  override int64(): LongType {
    return toNumber(super.int64());
  }
  override uint64(): LongType {
    return toNumber(super.uint64());
  }
  override sint64(): LongType {
    return toNumber(super.sint64());
  }
  override fixed64(): LongType {
    return toNumber(super.fixed64());
  }
  override sfixed64(): LongType {
    return toNumber(super.sfixed64());
  }
}

/** A reader over `bytes` for the generated `decode` functions. */
export function reader(bytes: Uint8Array): protobuf.Reader {
  return new NumberReader(bytes);
}
