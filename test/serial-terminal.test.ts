/**
 * A bench technician's view: a real terminal program (tio, or picocom) on the agent's end of the
 * PTY, inside a detached tmux session on a private socket. Keys typed with send-keys, the screen
 * read back with capture-pane.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { servicePortChecksum, startSimulator, type Simulator } from '../firmware-sim/index.js';
import { waitFor } from './helpers.js';
import { describeWithTools, onPath, PICOCOM, SOCAT, TIO, TMUX } from './serial-helpers.js';

const terminal = onPath('tio') || !onPath('picocom') ? TIO : PICOCOM;

describeWithTools(
  `service port from a terminal (${terminal.bin} in tmux)`,
  [SOCAT, TMUX, terminal],
  () => {
    let sim: Simulator;
    const socket = join(tmpdir(), `outpost-tmux-${process.pid}-${Date.now()}`);
    const tmux = (...args: string[]): string => {
      const r = spawnSync('tmux', ['-S', socket, ...args], { encoding: 'utf8', timeout: 5000 });
      if (r.status !== 0) throw new Error(`tmux ${args[0]} failed: ${r.stderr}`);
      return r.stdout;
    };
    const screen = (): string => tmux('capture-pane', '-p', '-t', 'bench');
    /** Types a request with its checksum, the way a technician would, and presses Enter. */
    const type = (payload: string): void => {
      tmux('send-keys', '-t', 'bench', '-l', `${payload}*${servicePortChecksum(payload)}`);
      tmux('send-keys', '-t', 'bench', 'Enter');
    };

    beforeAll(async () => {
      sim = await startSimulator({ seed: 4, controlPort: false, servicePort: true });
      const path = sim.servicePort!.agentPath;
      const command = terminal === TIO ? `tio -b 115200 ${path}` : `picocom -q -b 115200 ${path}`;
      tmux('new-session', '-d', '-s', 'bench', '-x', '200', '-y', '50', command);
      // Until the terminal program has the port open, what is typed goes nowhere: retype PING.
      expect(
        await waitFor(
          () => {
            type('PING');
            return screen().includes('OK PING*34');
          },
          5000,
          250,
        ),
      ).toBe(true);
    });
    afterAll(async () => {
      try {
        tmux('kill-server');
      } catch {
        // already gone
      }
      rmSync(socket, { force: true });
      await sim?.close();
    });

    it('the controller answers PING and STATUS typed at the terminal', async () => {
      type('STATUS');
      expect(
        await waitFor(
          () =>
            /OK STATUS model=XR-200 serial=XR200-SIM-0001 .*state=READY.*\*[0-9A-F]{2}/.test(
              screen(),
            ),
          3000,
        ),
      ).toBe(true);
    });

    it('a wrong checksum typed by hand gets ERR CHK with the expected value', async () => {
      tmux('send-keys', '-t', 'bench', '-l', 'COUNTERS*00');
      tmux('send-keys', '-t', 'bench', 'Enter');
      const expected = servicePortChecksum('COUNTERS');
      expect(
        await waitFor(
          () => screen().includes(`ERR CHK checksum 00 is wrong, expected ${expected}`),
          3000,
        ),
      ).toBe(true);
    });

    it('unsolicited error lines show up on the technician screen', async () => {
      sim.inject(2003);
      sim.clear(2003);
      expect(
        await waitFor(
          () =>
            /!EVT ERR 2003 RAISED \d{13}\*[0-9A-F]{2}/.test(screen()) &&
            /!EVT ERR 2003 CLEARED/.test(screen()),
          3000,
        ),
      ).toBe(true);
    });
  },
);
