import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { config } from "#lib/config";
import { dynamo } from "#lib/db/client";
import { clearFlagCache } from "#lib/flags/cache";
import { FlagDefinition } from "#lib/flags/definitions";
import { compileFlag, evaluateFlag } from "#lib/flags/evaluate";
import type { HttpEvent } from "#lib/http";
import { handler as features } from "../functions/features.ts";
import { handler as ofrepBulk } from "../functions/ofrep-bulk.ts";
import { signDevToken } from "../scripts/tokens.ts";
import { loadEvent } from "../tests/helpers.ts";
import { countRequests, ms, time } from "./harness.ts";

const self = fileURLToPath(import.meta.url);

/**
 * Feature flags: GET /users/features and OFREP bulk, warm in-process (handler, JWT check,
 * evaluation, ETag), and the DynamoDB requests each kind of request costs.
 *
 * bench/run.ts parses the configuration (importing lib/config) before it sets
 * DYNAMODB_ENDPOINT to its dynalite, so this process's DynamoDB client points elsewhere; when
 * that is so, the measurement runs in a fresh process that starts with the right environment.
 */
export async function run(): Promise<string> {
  if (process.env.DYNAMODB_ENDPOINT && process.env.DYNAMODB_ENDPOINT !== config.DYNAMODB_ENDPOINT) {
    // Asynchronously: the dynalite it measures against runs in this process's event loop.
    const { stdout } = await promisify(execFile)("npx", ["tsx", self], {
      env: process.env,
      maxBuffer: 1 << 20,
    });
    return stdout;
  }
  return measure();
}

if (process.argv[1] === self) {
  process.stdout.write(await measure());
  process.exit(0);
}

async function measure(): Promise<string> {
  const counter = countRequests(dynamo);
  const users = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      signDevToken({ sub: `bench-flags-${i}`, plan: i % 2 ? "pro" : "free" }),
    ),
  );
  const event = (name: string, token: string, headers: Record<string, string> = {}): HttpEvent => {
    const e = loadEvent(name);
    Object.assign(e.headers, { authorization: `Bearer ${token}`, ...headers });
    return e;
  };
  const featureEvents = users.map((t) => event("features", t));
  const bulkEvents = users.map((t) => event("ofrepBulk", t));

  // Warm up: every user's plan and the definitions are now in memory.
  clearFlagCache({ plans: true });
  for (const e of featureEvents) await features(e);
  const etags = await Promise.all(
    featureEvents.map(async (e) => (await features(e)).headers?.ETag as string),
  );
  const notModifiedEvents = users.map((t, i) =>
    event("features", t, { "if-none-match": etags[i] as string }),
  );

  const n = 2_000;
  // The bench must not cross a cache window, or a reload would be counted: reload just before.
  clearFlagCache();
  await features(featureEvents[0] as HttpEvent);
  counter.reset();
  const warm = await time((i) => features(featureEvents[Math.abs(i) % users.length] as HttpEvent), n, 0);
  const warmReads = counter.total() / n;
  counter.reset();
  const notModified = await time(
    (i) => features(notModifiedEvents[Math.abs(i) % users.length] as HttpEvent),
    n,
    0,
  );
  const notModifiedReads = counter.total() / n;
  const statuses = new Set([(await features(notModifiedEvents[0] as HttpEvent)).statusCode]);
  counter.reset();
  const bulk = await time((i) => ofrepBulk(bulkEvents[Math.abs(i) % users.length] as HttpEvent), n, 0);
  const bulkReads = counter.total() / n;

  // A user this instance has not seen within the window: one profile read, nothing else.
  const strangers = await Promise.all(
    Array.from({ length: 200 }, (_, i) => signDevToken({ sub: `bench-flags-stranger-${i}`, plan: "pro" })),
  );
  for (const t of strangers) await features(event("features", t)); // create their profiles first
  clearFlagCache({ plans: true });
  await features(featureEvents[0] as HttpEvent);
  counter.reset();
  const strangerEvents = strangers.map((t) => event("features", t));
  const cold = await time((i) => features(strangerEvents[i] as HttpEvent), strangers.length, 0);
  const coldOps = Object.fromEntries(counter.byOperation);

  // Reload of the definitions (what each instance pays once per FLAGS_CACHE_SECONDS).
  counter.reset();
  const reload = await time(
    async () => {
      clearFlagCache();
      await features(featureEvents[0] as HttpEvent);
    },
    200,
    0,
  );
  const reloadOps = Object.fromEntries(counter.byOperation);

  // Pure evaluation of one flag with every layer (rules, rollout, 500 overrides).
  const heavy = compileFlag({
    key: "realtime_upgrades",
    version: 7,
    source: "stored",
    definition: FlagDefinition.parse({
      type: "boolean",
      default: false,
      rules: Array.from({ length: 20 }, (_, i) => ({
        id: `r${i}`,
        extension_version: { min: `${i + 5}.0` },
        value: true,
      })),
      rollout: { percentage: 30, value: true },
      overrides: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`o${i}`, true])),
    }),
  });
  const evalN = 100_000;
  const t0 = performance.now();
  for (let i = 0; i < evalN; i++)
    evaluateFlag(heavy, { userId: `u${i}`, plan: "free", extensionVersion: "1.4.2" });
  const perEval = ((performance.now() - t0) * 1000) / evalN;

  return [
    "## Feature flags (GET /users/features, OFREP)",
    "",
    `Warm in-process: handler with JWT verification, ${users.length} users cycling, n = ${n} each, one after another.`,
    `FLAGS_CACHE_SECONDS keeps definitions and each user's plan in memory.`,
    "",
    "| request | p50 | p99 | DynamoDB requests per request |",
    "| --- | --- | --- | --- |",
    `| GET /users/features, warm (200) | ${ms(warm.p50)} | ${ms(warm.p99)} | ${warmReads} |`,
    `| GET /users/features, If-None-Match current (${[...statuses].join(",")}) | ${ms(notModified.p50)} | ${ms(notModified.p99)} | ${notModifiedReads} |`,
    `| POST /ofrep/v1/evaluate/flags, warm (200) | ${ms(bulk.p50)} | ${ms(bulk.p99)} | ${bulkReads} |`,
    `| GET /users/features, user not seen in the window (n = ${strangers.length}) | ${ms(cold.p50)} | ${ms(cold.p99)} | ${JSON.stringify(coldOps)} per ${strangers.length} |`,
    `| definitions reload (once per window per instance, n = 200) | ${ms(reload.p50)} | ${ms(reload.p99)} | ${JSON.stringify(reloadOps)} per 200 |`,
    "",
    `Evaluating one flag with 20 version rules, a rollout and 500 overrides: ${perEval.toFixed(2)} µs (n = ${evalN}).`,
  ].join("\n");
}
