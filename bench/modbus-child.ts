/**
 * Helper process of the Modbus benches (started by `ResponderProcess.start` in
 * bench/modbus-kit.ts, never by hand): the simulator's own Modbus faces — the MBAP responder
 * that writes its reply in the same tick it reads the request, and optionally the RTU face on a
 * socat PTY pair — serving a fixed register image. It runs apart so the agent's CPU time can be
 * measured alone. Replies `{ tcpPort, rtuPath }` on IPC once serving; exits when the parent
 * disconnects.
 */
import { startModbusRtu, startModbusTcp } from '../firmware-sim/index.js';
import type { RegisterTable } from '../firmware-sim/index.js';

interface StartMessage {
  rtu: boolean;
  eagerFraming: boolean;
  holding: number[];
}

const send = (message: unknown): void => {
  process.send?.(message);
};

process.once('message', (raw) => {
  const m = raw as StartMessage;
  const read = (table: RegisterTable, address: number, count: number): number[] => {
    if (table !== 'holding' || address + count > m.holding.length) throw new Error('unmapped');
    return m.holding.slice(address, address + count);
  };
  void (async () => {
    const tcp = await startModbusTcp({ unitId: 1, read });
    const rtu = m.rtu
      ? await startModbusRtu({ unitId: 1, read, eagerFraming: m.eagerFraming })
      : undefined;
    process.once('disconnect', () => {
      void Promise.all([tcp.close(), rtu?.close()]).then(() => process.exit(0));
    });
    send({ tcpPort: tcp.port, rtuPath: rtu?.path ?? null, gapMs: rtu?.gapMs ?? null });
  })().catch((err: unknown) => {
    send({ error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  });
});
