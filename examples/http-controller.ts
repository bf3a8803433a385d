/**
 * The imaginary device of the custom-adapter example: a DR detector controller with a small
 * JSON-over-HTTP service API on loopback. It stands in for your own controller so the example
 * runs anywhere.
 *
 *   GET /v1/status  → {"serial":"DR9-0001","counters":{"frames_total":120,...},"faults":[3003]}
 *   GET /v1/faults  → {"faults":[3003],"raisedTotal":4}
 *
 * `down()` stops answering (connection refused), `hang()` accepts requests and never answers.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HttpController {
  readonly url: string;
  set(counter: string, value: number): void;
  raise(code: number): void;
  clear(code: number): void;
  /** Stops listening (the controller is powered off). */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  /** Accepts requests but never answers them (a wedged controller), until `hang(false)`. */
  hang(on?: boolean): void;
  close(): Promise<void>;
}

export async function startHttpController(): Promise<HttpController> {
  const counters: Record<string, number> = { frames_total: 120, panel_temp: 31.4, battery_pct: 87 };
  const faults = new Set<number>();
  let raisedTotal = 0;
  let hanging = false;
  const server = http.createServer((req, res) => {
    if (hanging) return; // never answered
    const send = (body: unknown): void => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/v1/status') {
      send({ serial: 'DR9-0001', counters, faults: [...faults] });
    } else if (req.url === '/v1/faults') {
      send({ faults: [...faults], raisedTotal });
    } else {
      res.writeHead(404).end();
    }
  });
  const listen = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    set: (counter, value) => {
      counters[counter] = value;
    },
    raise: (code) => {
      if (!faults.has(code)) raisedTotal += 1;
      faults.add(code);
    },
    clear: (code) => {
      faults.delete(code);
    },
    down: stop,
    up: () => listen(port),
    hang: (on = true) => {
      hanging = on;
    },
    close: async () => {
      if (server.listening) await stop();
    },
  };
}
