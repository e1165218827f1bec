import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { BatchGetItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { NodeHttpHandler } from "@smithy/node-http-handler";
import type { AuthUser } from "#lib/auth";
import { config } from "#lib/config";
import { db, dynamo, TABLE } from "#lib/db/client";
import { keys } from "#lib/db/keys";
import { forgetProfile, updateProfile } from "#lib/profile";
import { checkLimits, consumeCredits, currentLimits, releaseCredits } from "#lib/quotas";
import { localMonth } from "#lib/time";
import { handler as consumeHandler } from "../functions/limits-consume.ts";
import { signDevToken } from "../scripts/tokens.ts";
import { loadEvent } from "../tests/helpers.ts";
import { countRequests, ms, percentile, type Timing, time } from "./harness.ts";

const self = fileURLToPath(import.meta.url);
type BatchGetInput = ConstructorParameters<typeof BatchGetItemCommand>[0];
type UpdateInput = ConstructorParameters<typeof UpdateItemCommand>[0];

/**
 * Quotas: consume and current p50/p99 in-process against dynalite next to the bare DynamoDB
 * request each one sends (the very request, captured and replayed through the low-level client),
 * the DynamoDB requests every kind of call costs (SDK middleware count), and admissions under
 * 1000 concurrent consumes against 500 remaining credits: ours vs a naive read-then-write.
 *
 * bench/run.ts parses the configuration before it points DYNAMODB_ENDPOINT at its dynalite; when
 * that is so, the measurement runs in a fresh process that starts with the right environment
 * (and with client timeouts long enough for 1000 requests queued in one process).
 */
export async function run(): Promise<string> {
  if (process.env.DYNAMODB_ENDPOINT && process.env.DYNAMODB_ENDPOINT !== config.DYNAMODB_ENDPOINT) {
    // Asynchronously: bench/run.ts serves dynalite from this very process, so it must keep running.
    const { stdout } = await promisify(execFile)("npx", ["tsx", self], {
      env: { ...process.env, DB_CONNECT_TIMEOUT_MS: "10000", DB_REQUEST_TIMEOUT_MS: "20000" },
      encoding: "utf8",
      maxBuffer: 1 << 20,
    });
    return stdout;
  }
  return measure();
}

const N = Number(process.env.BENCH_N ?? 300);

/**
 * Times two calls alternately (a, then b, n times after `warmup` rounds), so both see the same
 * item sizes and the same machine noise; milliseconds per call.
 */
async function alternate(
  a: (i: number) => Promise<unknown>,
  b: (i: number) => Promise<unknown>,
  n: number,
  warmup = 20,
): Promise<[Timing, Timing]> {
  const sa: number[] = [];
  const sb: number[] = [];
  for (let i = -warmup; i < n; i++) {
    let t0 = performance.now();
    await a(i);
    const da = performance.now() - t0;
    t0 = performance.now();
    await b(i);
    const db = performance.now() - t0;
    if (i >= 0) {
      sa.push(da);
      sb.push(db);
    }
  }
  const timing = (xs: number[]) => ({ n, p50: percentile(xs, 50), p99: percentile(xs, 99) });
  return [timing(sa), timing(sb)];
}
const newUser = (plan = "team"): AuthUser => ({ id: `bench-${crypto.randomUUID()}`, plan, roles: [] });

/** Remembers the last low-level input of an operation, to replay the very same request bare. */
function captureInputs() {
  const last = new Map<string, Record<string, unknown>>();
  dynamo.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName ?? "").replace(/Command$/, "");
      last.set(name, structuredClone(args.input as Record<string, unknown>));
      return next(args);
    },
    { step: "build", name: "benchCaptureInput", override: true },
  );
  return last;
}

async function measure(): Promise<string> {
  const counter = countRequests(dynamo);
  const captured = captureInputs();
  const now = new Date();

  // --- latency: ours vs the bare request it sends
  const user = newUser("team");
  await currentLimits(user, now);
  await consumeCredits(user, "upgrade", "first", now);

  // Each consume happens one minute after the previous one (a busy user's pace), so the key ring
  // rotates as it does in production; the bare request is the one just sent, with a new key.
  const base = now.getTime();
  const at = (i: number) => new Date(base + (i + 30) * 60_000);
  const [current, currentBare] = await alternate(
    () => currentLimits(user, now),
    () => dynamo.send(new BatchGetItemCommand(captured.get("BatchGetItem") as unknown as BatchGetInput)),
    N,
  );
  const [consume, consumeBare] = await alternate(
    (i) => consumeCredits(user, "upgrade", `lat-${i}`, at(i)),
    (i) => {
      const input = structuredClone(captured.get("UpdateItem")) as unknown as UpdateInput;
      input.ExpressionAttributeNames = { ...input.ExpressionAttributeNames, "#key": `bare-${i}` };
      return dynamo.send(new UpdateItemCommand(input));
    },
    N,
  );
  let k = 0;
  // Through the handler, on a user of its own (the route reads the real clock: these keys share a slot).
  const handlerUser = newUser("team");
  const token = await signDevToken({ sub: handlerUser.id, plan: "team" });
  const event = loadEvent("limitsConsume");
  event.headers.authorization = `Bearer ${token}`;
  const viaHandler = await time(async () => {
    const e = structuredClone(event);
    e.headers["idempotency-key"] = `h-${k++}`;
    const res = await consumeHandler(e);
    if (res.statusCode !== 200) throw new Error(`consume answered ${res.statusCode}: ${res.body}`);
  }, N);

  // --- requests per operation
  const ops: [string, number | string][] = [];
  const count = async (label: string, fn: () => Promise<unknown>) => {
    counter.reset();
    await fn().catch(() => undefined);
    ops.push([
      label,
      `${counter.total()} (${[...counter.byOperation].map(([n, c]) => `${n} ${c}`).join(", ")})`,
    ]);
  };
  const u2 = newUser("pro");
  await count("current, new user (creates the profile)", () => currentLimits(u2, now));
  await count("current", () => currentLimits(u2, now));
  await count("check", () => checkLimits(u2, { action: "deep_upgrade" }, now));
  await count("consume, first of the month (creates the counter)", () =>
    consumeCredits(u2, "upgrade", "c1", now),
  );
  await count("consume", () => consumeCredits(u2, "upgrade", "c2", now));
  await count("consume, retry of a charged key (replay)", () => consumeCredits(u2, "upgrade", "c2", now));
  forgetProfile(u2.id);
  await count("consume, profile not cached in this instance", () => consumeCredits(u2, "upgrade", "c3", now));
  await count("release", () => releaseCredits(u2, "c3", now));
  await updateProfile(u2.id, { overrides: { daily_limit: 3 } });
  await consumeCredits(u2, "upgrade", "c4", now).catch(() => undefined);
  await count("consume refused (limit reached)", () => consumeCredits(u2, "upgrade", "c5", now));

  // --- admissions under concurrency: 1000 consumes of 1 credit, 500 remaining.
  // 1000 requests in flight from one process queue for the client's sockets: give the queue time
  // (the configured 500 ms connect timeout is meant for one request per Lambda instance).
  const handler = dynamo.config.requestHandler as NodeHttpHandler;
  handler.updateHttpClientConfig("connectionTimeout", 20_000);
  handler.updateHttpClientConfig("requestTimeout", 30_000);
  const concurrency = 1000;
  const ours = newUser("pro");
  await currentLimits(ours, now);
  const oursResults = await Promise.allSettled(
    Array.from({ length: concurrency }, (_, i) => consumeCredits(ours, "upgrade", `x-${i}`, now)),
  );
  const oursAdmitted = oursResults.filter((r) => r.status === "fulfilled").length;
  const oursErrors = oursResults.filter(
    (r) => r.status === "rejected" && (r.reason as { code?: string }).code !== "QUOTA_EXCEEDED",
  ).length;
  const oursCounter = (await currentLimits(ours, now)).daily_used;

  const naiveKey = keys.quotaMonth(`naive-${crypto.randomUUID()}`, localMonth(now, "UTC"));
  const day = `d${now.toISOString().slice(8, 10)}`;
  const naiveResults = await Promise.allSettled(
    Array.from({ length: concurrency }, async () => {
      const { Item } = await db.send(
        new GetCommand({ TableName: TABLE, Key: naiveKey, ConsistentRead: true }),
      );
      if (Number(Item?.[day] ?? 0) + 1 > 500) return false;
      await db.send(
        new UpdateCommand({
          TableName: TABLE,
          Key: naiveKey,
          UpdateExpression: "ADD m :one, #day :one",
          ExpressionAttributeNames: { "#day": day },
          ExpressionAttributeValues: { ":one": 1 },
        }),
      );
      return true;
    }),
  );
  const naiveAdmitted = naiveResults.filter((r) => r.status === "fulfilled" && r.value).length;
  const naiveCounter = Number(
    (await db.send(new GetCommand({ TableName: TABLE, Key: naiveKey, ConsistentRead: true }))).Item?.[day] ??
      0,
  );

  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  return [
    "## Quotas",
    "",
    `In-process against dynalite, sequential calls, n = ${N} each (after 20 warm-up calls). "Bare" is the`,
    "very DynamoDB request the operation sends, captured and replayed through the low-level client",
    "right after it (calls alternate, so both see the same item and the same machine noise):",
    "the ratio is what our code (validation, windows, decision) adds on top of the database call.",
    "",
    "| operation | p50 | p99 | bare request p50 | bare p99 | overhead (p50 ratio) |",
    "|---|---|---|---|---|---|",
    `| current (lib) | ${ms(current.p50)} | ${ms(current.p99)} | ${ms(currentBare.p50)} (BatchGetItem) | ${ms(currentBare.p99)} | ${ratio(current.p50, currentBare.p50)} |`,
    `| consume (lib) | ${ms(consume.p50)} | ${ms(consume.p99)} | ${ms(consumeBare.p50)} (UpdateItem) | ${ms(consumeBare.p99)} | ${ratio(consume.p50, consumeBare.p50)} |`,
    `| POST /users/limits/consume (handler: JWT, validation, route) | ${ms(viaHandler.p50)} | ${ms(viaHandler.p99)} | ${ms(consumeBare.p50)} (UpdateItem) | ${ms(consumeBare.p99)} | ${ratio(viaHandler.p50, consumeBare.p50)} |`,
    "",
    "DynamoDB requests per call (SDK middleware count, every attempt counted):",
    "",
    "| call | requests |",
    "|---|---|",
    ...ops.map(([label, n]) => `| ${label} | ${n} |`),
    "",
    `Admissions, ${concurrency} concurrent consumes of 1 credit against 500 remaining (pro daily limit):`,
    "",
    "| implementation | admitted | counter after | over-admission | errors |",
    "|---|---|---|---|---|",
    `| ours (one conditional UpdateItem) | ${oursAdmitted} | ${oursCounter} | ${oursAdmitted - 500} | ${oursErrors} |`,
    `| naive read-then-write (GetItem, then unconditional ADD) | ${naiveAdmitted} | ${naiveCounter} | ${naiveAdmitted - 500} | ${naiveResults.filter((r) => r.status === "rejected").length} |`,
  ].join("\n");
}

if (process.argv[1] === self) {
  process.stdout.write(await measure());
  process.exit(0);
}
