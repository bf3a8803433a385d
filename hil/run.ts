/** Entry point of `npm run hil` (see main.ts). */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
