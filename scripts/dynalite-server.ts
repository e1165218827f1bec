/**
 * `tsx scripts/dynalite-server.ts <port> [path]`: dynalite as its own process, so the local stack's
 * database can be stopped and restarted on its own (to see the health check report it down).
 * Prints "ready <endpoint>" once listening.
 */
import { startDynalite } from "./local-dynamo.ts";

const port = Number(process.argv[2] ?? 8000);
const path = process.argv[3];
const dynamo = await startDynalite(port, path);
console.log(`ready ${dynamo.endpoint}`);
const stop = async () => {
  await dynamo.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
