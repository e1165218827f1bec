/**
 * `npm run fuzz [-- <cases>]`: the long fuzz run (100,000 cases by default) across every route,
 * in-process against its own in-memory dynalite. Prints the status counts and the problems found:
 * server errors, error bodies without detail/code, and refused requests that wrote anything.
 * Exits 1 when there is any problem.
 */
import fc from "fast-check";
import { startDynalite } from "./local-dynamo.ts";

const total = Number(process.argv[2] ?? 100_000);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const dynamoServer = await startDynalite(0);
process.env.DYNAMODB_ENDPOINT = dynamoServer.endpoint;
process.env.LOG_LEVEL = "silent";
// The long run sends thousands of requests from one user: lift the per-user rates so validation, not 429, answers.
process.env.ERROR_REPORTS_PER_MINUTE ??= "10000";
process.env.USAGE_SYNCS_PER_MINUTE ??= "10000";

const { LOCAL_DEFAULTS } = await import("#lib/config");
const { dynamo } = await import("#lib/db/client");
const { ensureTable } = await import("#lib/db/table");
const { FUZZ_ROUTES } = await import("../tests/fuzz/cases.ts");
const { caseFor, countAcceptedWrites, runCase, tokenFor } = await import("../tests/fuzz/harness.ts");
const { eventFrom } = await import("../tests/helpers.ts");

await ensureTable(dynamo, LOCAL_DEFAULTS.TABLE_NAME);
const writes = countAcceptedWrites(dynamo);
const perRoute = Math.ceil(total / FUZZ_ROUTES.length);
const statuses = new Map<number, number>();
const problems: string[] = [];
let serverErrors = 0;
let strayWrites = 0;
const started = Date.now();

for (const route of FUZZ_ROUTES) {
  const handler = await route.load();
  const token = await tokenFor(route, `long-${seed}`);
  await handler(eventFrom(route.event, { token }));
  const samples = fc.sample(caseFor(route), { seed: seed + route.name.length, numRuns: perRoute });
  for (const c of samples) {
    const outcome = await runCase(route, handler, c, token, writes);
    statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
    if (outcome.status >= 500) serverErrors++;
    if (outcome.problem?.includes("but wrote")) strayWrites++;
    if (outcome.problem && problems.length < 20) problems.push(outcome.problem.slice(0, 300));
  }
  console.error(`${route.name}: ${perRoute} cases done (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

const cases = [...statuses.values()].reduce((a, b) => a + b, 0);
console.log(
  `fuzz: ${cases} cases across ${FUZZ_ROUTES.length} routes, seed ${seed}, ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
console.log(
  `statuses: ${[...statuses.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([s, n]) => `${s}×${n}`)
    .join(", ")}`,
);
console.log(
  `server errors: ${serverErrors}; refused requests that wrote: ${strayWrites}; problems: ${problems.length}`,
);
for (const p of problems) console.log(`- ${p}`);
await dynamoServer.stop();
process.exit(problems.length ? 1 : 0);
