import { describe, expect, it } from 'vitest';
import { SimExposureInhibitedError } from './errors.js';
import { ControllerModel } from './model.js';
import { startSimulator } from './simulator.js';

describe('detector data link', () => {
  it('a lost link raises DET_LINK_LOST by condition, inhibits exposures, and clears when restored', () => {
    const model = new ControllerModel({ seed: 1 });
    const events: Array<{ code: number; state: string; cause: string }> = [];
    model.onError((e) => events.push({ code: e.code, state: e.state, cause: e.cause }));
    model.setDetectorLink(false);
    expect(model.activeCodes()).toContain(3003);
    expect(events).toContainEqual({ code: 3003, state: 'raised', cause: 'model' });
    expect(() => model.expose(80, 200, 50)).toThrow(SimExposureInhibitedError);
    model.setDetectorLink(true);
    expect(model.activeCodes()).not.toContain(3003);
    expect(events).toContainEqual({ code: 3003, state: 'cleared', cause: 'model' });
    expect(() => model.expose(80, 200, 50)).not.toThrow();
  });

  it('is reachable from the control channel', async () => {
    const sim = await startSimulator({ seed: 2, controlPort: false, tickMs: 0 });
    try {
      const reply = JSON.parse(
        sim.command(JSON.stringify({ cmd: 'detector-link', connected: false })),
      ) as {
        ok: boolean;
        activeCodes: number[];
      };
      expect(reply.ok).toBe(true);
      expect(reply.activeCodes).toContain(3003);
    } finally {
      await sim.close();
    }
  });
});
