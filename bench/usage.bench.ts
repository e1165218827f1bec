import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { BatchWriteCommand, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { config } from "#lib/config";
import { db, dynamo, TABLE } from "#lib/db/client";
import { keys } from "#lib/db/keys";
import type { HttpEvent } from "#lib/http";
import { TECHNIQUES } from "#lib/plans";
import { addDays, localDate } from "#lib/time";
import { trackUsage } from "#lib/usage/ingest";
import { dropExpiredDedupeSets } from "#lib/usage/maintenance";
import { handler as analytics } from "../functions/usage-analytics.ts";
import { handler as bulkTrack } from "../functions/usage-bulk-track.ts";
import { signDevToken } from "../scripts/tokens.ts";
import { loadEvent } from "../tests/helpers.ts";
import { countRequests, ms, percentile, time } from "./harness.ts";

const self = fileURLToPath(import.meta.url);

/**
 * Usage: bulk-track throughput for 500-event syncs next to dynalite's bare BatchWriteItem of the
 * same raw items (same run, same concurrency), the DynamoDB requests and write units of one
 * sync (clean, and the same sync retried), and analytics p50/p99 and read units for 90 days of
 * a heavy user (500 events a day, 180 days stored so the previous period is full too).
 *
 * Like bench/flags.bench.ts, it re-runs itself in a fresh process when bench/run.ts set the
 * dynalite endpoint after this process's configuration was parsed.
 */
export async function run(): Promise<string> {
  if (process.env.DYNAMODB_ENDPOINT && process.env.DYNAMODB_ENDPOINT !== config.DYNAMODB_ENDPOINT) {
    // Asynchronous, so this process (which serves dynalite) keeps answering the child's requests.
    // A generous request timeout: this measures throughput on a shared machine, not the fail-fast path.
    const env = { ...process.env, DB_REQUEST_TIMEOUT_MS: "10000" };
    const { stdout } = await promisify(execFile)("npx", ["tsx", self], { env, maxBuffer: 1 << 22 });
    return stdout;
  }
  return measure();
}

const DOMAINS = Array.from({ length: 25 }, (_, i) => `site${i}.example.com`);

/** 500 events spread over one local day (UTC here), ids unique per (prefix, day). */
function dayOfEvents(prefix: string, day: string, n = 500): Record<string, unknown>[] {
  const start = Date.parse(`${day}T00:00:00Z`);
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${day}-${i}`,
    type: i % 7 === 0 ? "rewrite" : "upgrade",
    timestamp: new Date(start + Math.floor(((i + 0.5) * 86_400_000) / n)).toISOString(),
    domain: `https://${DOMAINS[(i * 7) % DOMAINS.length]}/chat/${i}?q=x`,
    technique: TECHNIQUES[i % TECHNIQUES.length],
    success: i % 5 !== 0,
    ...(i % 5 !== 0 ? { improvement_score: (i % 10) + 0.5 } : {}),
    credits: 1 + (i % 2),
    duration_ms: 900 + i,
    extension_version: "1.4.2",
  }));
}

/** Sums ConsumedCapacity of every request (asks for it on each), by operation. */
function countCapacity() {
  const units = new Map<string, number>();
  dynamo.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      input.ReturnConsumedCapacity = "TOTAL";
      const out = await next(args);
      const name = String(context.commandName ?? "").replace(/Command$/, "");
      const cc = (out.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
      const list = (Array.isArray(cc) ? cc : cc ? [cc] : []) as { CapacityUnits?: number }[];
      for (const c of list) units.set(name, (units.get(name) ?? 0) + (c.CapacityUnits ?? 0));
      return out;
    },
    { step: "initialize", name: "benchCapacityCounter", override: true },
  );
  return {
    units,
    total: () => [...units.values()].reduce((a, b) => a + b, 0),
    reset: () => units.clear(),
  };
}

/** DynamoDB's size of an item: attribute names plus values (strings by bytes, numbers about 1 byte per 2 digits). */
function itemSize(item: Record<string, unknown>): number {
  const value = (v: unknown): number => {
    if (typeof v === "string") return Buffer.byteLength(v);
    if (typeof v === "number") return Math.ceil(String(v).length / 2) + 1;
    if (typeof v === "boolean") return 1;
    if (v instanceof Set) return [...v].reduce((a: number, x) => a + value(x), 0);
    return Buffer.byteLength(JSON.stringify(v));
  };
  return Object.entries(item).reduce((a, [k, v]) => a + Buffer.byteLength(k) + value(v), 0);
}

const fmt = (m: Map<string, number>, scale = 1) =>
  [...m.entries()]
    .sort()
    .map(([k, v]) => `${k} ${Number((v / scale).toFixed(1))}`)
    .join(", ");

async function measure(): Promise<string> {
  const requests = countRequests(dynamo);
  const capacity = countCapacity();
  const lines: string[] = ["## Usage: bulk-track and analytics", ""];
  const today = localDate(new Date(), "UTC");

  // --- 1. Throughput: 500-event syncs through the handler vs bare BatchWriteItem of the same items.
  const token = await signDevToken({ sub: "bench-usage-sync", plan: "pro" });
  const syncEvent = (events: unknown[]): HttpEvent => {
    const e = loadEvent("usageBulkTrack");
    e.headers.authorization = `Bearer ${token}`;
    e.body = JSON.stringify(events);
    return e;
  };
  const syncs = 20;
  const days = Array.from({ length: syncs }, (_, i) => addDays(today, -(i % 30) - 1));
  const bodies = days.map((day, i) => syncEvent(dayOfEvents(`t${i}`, day)));
  await bulkTrack(syncEvent(dayOfEvents("warm", addDays(today, -2), 50)));
  const t0 = performance.now();
  const perSync: number[] = [];
  for (const body of bodies) {
    const s = performance.now();
    const res = await bulkTrack(body);
    if (res.statusCode !== 200) throw new Error(`bulk-track answered ${res.statusCode}: ${res.body}`);
    perSync.push(performance.now() - s);
  }
  const oursMs = performance.now() - t0;

  // The same raw items (what trackUsage writes first) with nothing else: 25 per request, 4 in flight.
  const rawOf = (day: string, i: number) =>
    dayOfEvents(`b${i}`, day).map((e) => ({
      ...keys.usageEvent("bench-usage-bare", String(e.id)),
      ...e,
      domain: String(e.domain).split("/")[2],
      day,
      timezone: "UTC",
      expires_at: Math.floor(Date.parse(String(e.timestamp)) / 1000) + 90 * 86_400,
    }));
  const bareItems = days.map((day, i) => rawOf(day, i));
  const t1 = performance.now();
  for (const items of bareItems) {
    const chunks = Array.from({ length: 20 }, (_, k) => items.slice(k * 25, k * 25 + 25));
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < chunks.length) {
          const chunk = chunks[next++] ?? [];
          let pending = chunk.map((Item) => ({ PutRequest: { Item } }));
          while (pending.length) {
            const out = await db.send(new BatchWriteCommand({ RequestItems: { [TABLE]: pending } }));
            pending = (out.UnprocessedItems?.[TABLE] ?? []) as typeof pending;
          }
        }
      }),
    );
  }
  const bareMs = performance.now() - t1;
  const oursRate = (syncs * 500) / (oursMs / 1000);
  const bareRate = (syncs * 500) / (bareMs / 1000);
  lines.push(
    `### bulk-track throughput (${syncs} syncs of 500 new events, one after another)`,
    "",
    "| path | events/s | per 500-event sync p50 | p99 |",
    "|---|---|---|---|",
    `| POST /users/usage/bulk-track (handler: JWT, validation, raw BatchWrite, rollup updates) | ${oursRate.toFixed(0)} | ${ms(percentile(perSync, 50))} | ${ms(percentile(perSync, 99))} |`,
    `| bare BatchWriteItem of the same 500 raw items (25 per request, 4 in flight) | ${bareRate.toFixed(0)} | ${ms(bareMs / syncs)} (mean) | |`,
    "",
    `Ours / bare: ${(oursRate / bareRate).toFixed(2)}× the throughput (the floor: the raw items must be written anyway).`,
    "",
  );

  // --- 2. Requests and write units of one 500-event sync: clean, then the same sync retried.
  const one = syncEvent(dayOfEvents("cost", addDays(today, -25)));
  const cost = async (label: string) => {
    requests.reset();
    capacity.reset();
    const res = await bulkTrack(one);
    const body = JSON.parse(res.body ?? "{}");
    lines.push(
      `| ${label} | ${body.accepted}/${body.duplicate} | ${requests.total()} (${fmt(requests.byOperation)}) | ${capacity.total().toFixed(0)} (${fmt(capacity.units)}) |`,
    );
  };
  lines.push(
    "### DynamoDB cost of one 500-event sync (all events on one local day)",
    "",
    "| sync | accepted/duplicate | requests | capacity units (table) |",
    "|---|---|---|---|",
  );
  await cost("first sync");
  await cost("same sync again (retry)");
  lines.push(
    "",
    "Capacity units are dynalite's ConsumedCapacity (read units for the GetItems: the profile and one",
    "eventually consistent read of each day's applied-id set; write units for the rest). A retry is",
    "answered from that read alone: ids already in the set are duplicates whose raw items exist, so",
    "nothing is rewritten. GSI1 writes (the first write of a rollup day only) are not included.",
    "",
  );

  // --- 3. Analytics, 90d, heavy user: 180 days × 500 events, dedupe sets dropped past 37 days.
  const heavy = "bench-usage-heavy";
  const heavyUser = { id: heavy, roles: [] as string[] };
  const seedStart = performance.now();
  const oldest = addDays(today, -179);
  for (let d = 0; d < 180; d++) {
    const day = addDays(oldest, d);
    const events = dayOfEvents("h", day);
    // Each day is synced the day after it (the extension syncs daily), so the 35-day window holds.
    const receivedAt = new Date(Math.min(Date.parse(`${addDays(day, 1)}T01:00:00Z`), Date.now()));
    const res = await trackUsage(heavyUser, events, receivedAt);
    if (res.accepted !== 500) throw new Error(`seeding ${day}: ${res.accepted} accepted`);
  }
  for (let m = 0; m < 7; m++) {
    const month = addDays(today, -30 * m).slice(0, 7);
    const daysOfMonth = Object.fromEntries(
      Array.from({ length: 31 }, (_, i) => [`d${String(i + 1).padStart(2, "0")}`, 500 + i]),
    );
    await db.send(
      new PutCommand({
        TableName: TABLE,
        Item: { ...keys.quotaMonth(heavy, month), m: 15_000, ...daysOfMonth },
      }),
    );
  }
  await db.send(
    new PutCommand({
      TableName: TABLE,
      Item: { ...keys.usageMaintenanceCheckpoint(), done_through: addDays(oldest, -1) },
    }),
  );
  let dropped = 0;
  for (let i = 0; i < 5; i++) {
    const summary = await dropExpiredDedupeSets(new Date());
    dropped += summary.dropped;
    if (summary.days.length === 0) break;
  }
  const seedSeconds = (performance.now() - seedStart) / 1000;

  // Sizes of what the 90d query reads.
  const all = await db.send(
    new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: "PK = :pk AND SK BETWEEN :a AND :b",
      ExpressionAttributeValues: {
        ":pk": keys.userPartition(heavy),
        ":a": keys.usageRollup(heavy, oldest).SK,
        ":b": keys.usageRollup(heavy, today).SK,
      },
    }),
  );
  const sizes = (all.Items ?? []).map((item) => ({
    bytes: itemSize(item),
    withIds: item.ids instanceof Set,
  }));
  const withIds = sizes.filter((s) => s.withIds);
  const without = sizes.filter((s) => !s.withIds);
  const avg = (list: { bytes: number }[]) => list.reduce((a, s) => a + s.bytes, 0) / Math.max(1, list.length);

  const heavyToken = await signDevToken({ sub: heavy, plan: "pro" });
  const analyticsEvent = (period: string): HttpEvent => {
    const e = loadEvent("usageAnalytics-get");
    e.headers.authorization = `Bearer ${heavyToken}`;
    e.queryStringParameters = { period };
    e.rawQueryString = `period=${period}`;
    return e;
  };
  lines.push(
    "### Analytics of a heavy user (500 events a day for 180 days, 25 domains, 7 quota months)",
    "",
    `Seeded in ${seedSeconds.toFixed(1)} s through trackUsage (90,000 events); the nightly job then dropped ${dropped} dedupe sets.`,
    `Rollup items: ${withIds.length} recent ones with their dedupe set ≈ ${(avg(withIds) / 1024).toFixed(1)} KB each, ${without.length} older ones ≈ ${(avg(without) / 1024).toFixed(2)} KB each (DynamoDB item size: names + values).`,
    "",
    "| period | p50 | p99 | requests per call | read units per call |",
    "|---|---|---|---|---|",
  );
  for (const period of ["7d", "30d", "90d"]) {
    const event = analyticsEvent(period);
    const res = await analytics(event);
    if (res.statusCode !== 200) throw new Error(`analytics answered ${res.statusCode}: ${res.body}`);
    requests.reset();
    capacity.reset();
    await analytics(event);
    const perCall = `${requests.total()} (${fmt(requests.byOperation)})`;
    const units = `${capacity.total().toFixed(1)} (${fmt(capacity.units)})`;
    const t = await time(() => analytics(event), 200, 10);
    lines.push(`| ${period} | ${ms(t.p50)} | ${ms(t.p99)} | ${perCall} | ${units} |`);
  }
  lines.push(
    "",
    "The GetItem is the profile (the timezone); the two Queries (rollups of 2 × period days, quota months)",
    "run in parallel with it, so a call costs one round trip. Read units are eventually consistent.",
  );
  return `${lines.join("\n")}\n`;
}

// Last, so every module-level constant above is initialised before the measurement starts.
if (process.argv[1] === self) {
  process.stdout.write(await measure());
  process.exit(0);
}
