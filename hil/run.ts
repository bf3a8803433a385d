/** Entry point of `npm run hil` (see main.ts, and delivery/main.ts for the delivery suite). */
import { runDelivery } from './delivery/main.js';
import { main } from './main.js';

/**
 * `--delivery` runs the delivery suite at CI sizes, `--soak` at soak sizes (`--only a,b` picks
 * scenarios); `--ci` runs the CI scenarios and then the CI-sized delivery suite.
 */
function splitDelivery(argv: readonly string[]): {
  rest: string[];
  delivery: boolean;
  soak: boolean;
  only: string[];
} {
  const rest: string[] = [];
  let delivery = false;
  let soak = false;
  const only: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--delivery') delivery = true;
    else if (a === '--soak') soak = delivery = true;
    else if (a === '--only') only.push(...(argv[++i] ?? '').split(',').filter((s) => s !== ''));
    else rest.push(a);
  }
  return { rest, delivery, soak, only };
}

const argv = process.argv.slice(2);
const d = splitDelivery(argv);
const ci = d.rest.includes('--ci');
const reportAt = d.rest.indexOf('--report');
const scenarioFiles = d.rest.some((a, i) => !a.startsWith('--') && d.rest[i - 1] !== '--report');
let status = 0;
if (ci || scenarioFiles || !d.delivery) status = await main(d.rest);
if ((d.delivery || ci) && status !== 2) {
  const delivery = await runDelivery({
    soak: d.soak,
    only: d.only,
    ...(d.delivery && !ci && reportAt >= 0 ? { report: d.rest[reportAt + 1] } : {}),
  });
  status = Math.max(status, delivery);
}
process.exitCode = status;
