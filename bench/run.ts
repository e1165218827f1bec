/**
 * `npm run bench [-- <name> ...]`: runs every bench/<name>.bench.ts against an in-memory dynalite
 * and writes bench/RESULTS.md with the machine and the date. Each module exports
 * `run(): Promise<string>` returning its Markdown section. Figures from one run belong together:
 * compare ratios within a run, not across runs (these machines are shared and noisy).
 */
import { readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { prepareLocalTable, startDynalite } from "../scripts/local-dynamo.ts";

// lib/ parses its configuration at import: point it at this run's dynalite before loading any of it.
const dynamo = await startDynalite(0);
process.env.DYNAMODB_ENDPOINT = dynamo.endpoint;
process.env.LOG_LEVEL = "silent";
const { LOCAL_DEFAULTS } = await import("#lib/config");
const { client: admin } = await prepareLocalTable(dynamo.endpoint, LOCAL_DEFAULTS.TABLE_NAME);

const wanted = process.argv.slice(2);
const modules = readdirSync(new URL(".", import.meta.url))
  .filter((f) => f.endsWith(".bench.ts"))
  .map((f) => f.slice(0, -".bench.ts".length))
  .filter((name) => wanted.length === 0 || wanted.includes(name))
  .sort();

const sections: string[] = [];
for (const name of modules) {
  console.error(`bench: ${name} ...`);
  const mod = (await import(`./${name}.bench.ts`)) as { run: () => Promise<string> };
  sections.push(await mod.run());
}

const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const header = [
  "# Benchmark results",
  "",
  `Run: ${new Date().toISOString()} · ${cpu} × ${os.cpus().length} · ${Math.round(os.totalmem() / 2 ** 30)} GiB · Node ${process.version} · ${os.platform()} ${os.release()}`,
  "",
  "DynamoDB here is dynalite (in-memory, same process): latencies are the code's own cost plus an",
  "emulator round trip, not AWS latencies. Request and capacity counts are exact and carry over to AWS.",
  "",
].join("\n");
const out = `${header}\n${sections.join("\n\n")}\n`;
if (wanted.length === 0) writeFileSync(new URL("RESULTS.md", import.meta.url), out);
process.stdout.write(out);
admin.destroy();
await dynamo.stop();
process.exit(0);
