/**
 * The APNs simulator in a process of its own for the push benchmark, so the clients measured do
 * not share an event loop with the server. Prints one JSON line (url, CA, a signing key) and runs
 * until its parent closes stdin.
 */
import { startApnsSimulator } from '../src/sim/apns/index.ts';

const sim = await startApnsSimulator({ recordLimit: 1000 });
const key = sim.generateKey();
process.stdout.write(`${JSON.stringify({ url: sim.url, ca: sim.ca, key })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void sim.close().then(() => process.exit(0));
});
