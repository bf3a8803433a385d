/**
 * What libfaketime's acceleration costs an event loop by itself (session 15): a timer every
 * 1 000 ms of the process's clock doing next to nothing, and the CPU per tick. Run it plain, under
 * libfaketime at x1 (the interposer, time at its real rate) and at x20, side by side:
 *
 *   L=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
 *   npx esbuild bench/faketime-tick.ts --outfile=/tmp/tick.mjs --format=esm --platform=node
 *   node /tmp/tick.mjs 60 & LD_PRELOAD=$L FAKETIME='+0 x1' node /tmp/tick.mjs 60 &
 *   LD_PRELOAD=$L FAKETIME='+0 x20' node /tmp/tick.mjs 1200 & wait
 *
 * The argument is the run's length in seconds of the process's clock (60 s real each above).
 * Plain node, no tsx: a loader would be measured too.
 */
const seconds = Number(process.argv[2] ?? 60);
let ticks = 0;
let sink = '';
const timer = setInterval(() => {
  ticks++;
  sink = JSON.stringify({ ticks });
}, 1000);
const start = process.cpuUsage();
setTimeout(() => {
  clearInterval(timer);
  const used = process.cpuUsage(start);
  const us = used.user + used.system;
  console.log(
    `${process.env.FAKETIME ?? 'real time'}: ${ticks} ticks, CPU ${(us / 1000).toFixed(0)} ms, ${(us / ticks).toFixed(0)} us per tick (${sink.length})`,
  );
}, seconds * 1000);
