import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { config } from "#lib/config";
import { createDynamoClient, dynamo, TABLE } from "#lib/db/client";
import { clearFlagCache } from "#lib/flags/cache";
import { clearHealthCache } from "#lib/health";
import type { HttpEvent, HttpHandler } from "#lib/http";
import { forgetProfile, updateProfile } from "#lib/profile";
import { addDays, localDate } from "#lib/time";
import { trackUsage } from "#lib/usage/ingest";
import { handler as errorsReport } from "../functions/errors-report.ts";
import { handler as features } from "../functions/features.ts";
import { handler as health } from "../functions/health.ts";
import { handler as limitsCheck } from "../functions/limits-check.ts";
import { handler as limitsConsume } from "../functions/limits-consume.ts";
import { handler as limitsCurrent } from "../functions/limits-current.ts";
import { handler as limitsRelease } from "../functions/limits-release.ts";
import { handler as ofrepBulk } from "../functions/ofrep-bulk.ts";
import { handler as usageAnalytics } from "../functions/usage-analytics.ts";
import { handler as usageBulkTrack } from "../functions/usage-bulk-track.ts";
import { eventFrom, freshUser, loadEvent } from "../tests/helpers.ts";
import { percentile } from "./harness.ts";

const self = fileURLToPath(import.meta.url);

/**
 * Cost model: for every HTTP route, through the real handler and its sample event, the DynamoDB
 * requests and consumed read/write units per call (ReturnConsumedCapacity on every request, SDK
 * middleware), the warm in-process duration and what Lambda would bill for it at 128 MB, and the
 * resulting cost per million extension sessions on an HTTP API next to a REST API with usage plans.
 *
 * Always measured in a fresh process (dynalite keeps running in bench/run.ts's process), so no
 * other bench's middleware or warm caches are on the client, and the CPU time of a call is the
 * handler's own, not dynalite's.
 */
export async function run(): Promise<string> {
  const { stdout } = await promisify(execFile)("npx", ["tsx", self], {
    env: { ...process.env, DYNAMODB_ENDPOINT: process.env.DYNAMODB_ENDPOINT ?? config.DYNAMODB_ENDPOINT },
    encoding: "utf8",
    maxBuffer: 1 << 22,
  });
  return stdout;
}

// --- Prices: AWS us-east-1 list prices as of December 2026 (when this bench was written).
const PRICE = {
  httpApiPerMillion: 1.0,
  restApiPerMillion: 3.5,
  lambdaPerGbSecond: 0.0000133334, // arm64
  lambdaPerMillionRequests: 0.2,
  lambdaMemoryGb: 128 / 1024,
  wruPerMillion: 0.625,
  rruPerMillion: 0.125,
};
/** Stated assumptions of the "AWS estimate" column (not measured here). */
const AWS_ROUND_TRIP_MS = 5;
/** Lambda gives a full vCPU at 1,769 MB and CPU in proportion to memory below it. */
const CPU_SLOWDOWN_AT_128MB = 1769 / 128;

const READS = new Set(["GetItem", "BatchGetItem", "Query", "Scan"]);

/** Per-call DynamoDB figures, summed over the calls since the last reset. */
interface Meter {
  requests: number;
  byOperation: Map<string, number>;
  rru: number;
  wru: number;
  /** Reported write units by operation. */
  wruByOperation: Map<string, number>;
  /** Requests answered without ConsumedCapacity (by operation). */
  unreported: Map<string, number>;
  /** Conditional writes refused (ConditionalCheckFailedException): AWS bills write units for them. */
  failedConditional: number;
  /**
   * GSI1 index item writes (dynalite leaves them out of ConsumedCapacity): found by reading the
   * item's GSI1 keys before and after each write that may change them, in a separate pass.
   */
  gsiWrites: number;
  /** Requests sent while no other request of this process was in flight: sequential round trips. */
  roundTrips: number;
}

const emptyMeter = (): Meter => ({
  requests: 0,
  byOperation: new Map(),
  rru: 0,
  wru: 0,
  wruByOperation: new Map(),
  unreported: new Map(),
  failedConditional: 0,
  gsiWrites: 0,
  roundTrips: 0,
});

const INDEX_KEYS = ["GSI1PK", "GSI1SK"];

/** A string attribute, marshalled (`{ S }`) or not. */
const str = (v: unknown): string | undefined =>
  typeof v === "string"
    ? v
    : typeof (v as { S?: unknown })?.S === "string"
      ? (v as { S: string }).S
      : undefined;

/**
 * The keys of the items a write request may change GSI1 of: puts that carry GSI1PK, updates whose
 * expression names a GSI1 key (directly or through ExpressionAttributeNames), every delete.
 */
// biome-ignore lint/suspicious/noExplicitAny: DynamoDB inputs, marshalled or not
function indexCandidates(name: string, input: any): { PK: string; SK: string }[] {
  const keyOf = (item: Record<string, unknown> | undefined) => {
    const PK = str(item?.PK);
    const SK = str(item?.SK);
    return PK !== undefined && SK !== undefined ? [{ PK, SK }] : [];
  };
  const carries = (item: unknown) => item !== null && typeof item === "object" && "GSI1PK" in item;
  if (name === "PutItem") return carries(input.Item) ? keyOf(input.Item) : [];
  if (name === "DeleteItem") return keyOf(input.Key);
  if (name === "UpdateItem") {
    const expression = String(input.UpdateExpression ?? "");
    const aliases = Object.entries(input.ExpressionAttributeNames ?? {})
      .filter(([, v]) => INDEX_KEYS.includes(String(v)))
      .map(([k]) => k);
    const names = [...INDEX_KEYS, ...aliases];
    return names.some((n) => expression.includes(n)) ? keyOf(input.Key) : [];
  }
  if (name === "BatchWriteItem") {
    // biome-ignore lint/suspicious/noExplicitAny: request items of any table
    const requests = Object.values(input.RequestItems ?? {}).flat() as any[];
    return requests.flatMap((r) =>
      r?.DeleteRequest
        ? keyOf(r.DeleteRequest.Key)
        : carries(r?.PutRequest?.Item)
          ? keyOf(r.PutRequest.Item)
          : [],
    );
  }
  return [];
}

/** A client of its own (no bench middleware) to read items' GSI1 keys around a write. */
const probeClient = createDynamoClient({ ...config, DB_REQUEST_TIMEOUT_MS: 10_000 });
async function indexKeysOf(key: { PK: string; SK: string }): Promise<string | undefined> {
  const { Item } = await probeClient.send(
    new GetItemCommand({
      TableName: TABLE,
      Key: { PK: { S: key.PK }, SK: { S: key.SK } },
      ConsistentRead: true,
      ProjectionExpression: "GSI1PK, GSI1SK",
    }),
  );
  return Item?.GSI1PK ? `${Item.GSI1PK.S}\u0000${Item.GSI1SK?.S ?? ""}` : undefined;
}

/** GSI1 item writes AWS bills for one base-item write: 1 to add or remove the index item, 2 to move it. */
function indexWrites(before: string | undefined, after: string | undefined): number {
  if (before === after) return 0;
  return before !== undefined && after !== undefined ? 2 : 1;
}

/**
 * Asks DynamoDB for ConsumedCapacity on every request of the process client (`dynamo`, which the
 * document client shares its middleware stack with) and sums it, with request and round-trip counts.
 */
function meterDynamo(): { meter: () => Meter; reset: () => void; probe: (on: boolean) => void } {
  let m = emptyMeter();
  let inFlight = 0;
  let probing = false;
  dynamo.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName ?? "unknown").replace(/Command$/, "");
      // biome-ignore lint/suspicious/noExplicitAny: any command input
      const input = args.input as any;
      input.ReturnConsumedCapacity = "TOTAL";
      m.requests++;
      m.byOperation.set(name, (m.byOperation.get(name) ?? 0) + 1);
      if (inFlight === 0) m.roundTrips++;
      inFlight++;
      const candidates = probing ? indexCandidates(name, input) : [];
      const before = await Promise.all(candidates.map(indexKeysOf));
      const countIndexWrites = async () => {
        const after = await Promise.all(candidates.map(indexKeysOf));
        candidates.forEach((_, i) => {
          m.gsiWrites += indexWrites(before[i], after[i]);
        });
      };
      try {
        const out = await next(args);
        await countIndexWrites();
        const cc = (out.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
        const list = (Array.isArray(cc) ? cc : cc ? [cc] : []) as {
          CapacityUnits?: number;
          ReadCapacityUnits?: number;
          WriteCapacityUnits?: number;
        }[];
        if (list.length === 0) m.unreported.set(name, (m.unreported.get(name) ?? 0) + 1);
        for (const c of list) {
          if (c.ReadCapacityUnits !== undefined || c.WriteCapacityUnits !== undefined) {
            m.rru += c.ReadCapacityUnits ?? 0;
            m.wru += c.WriteCapacityUnits ?? 0;
          } else if (READS.has(name)) m.rru += c.CapacityUnits ?? 0;
          else {
            m.wru += c.CapacityUnits ?? 0;
            m.wruByOperation.set(name, (m.wruByOperation.get(name) ?? 0) + (c.CapacityUnits ?? 0));
          }
        }
        return out;
      } catch (error) {
        await countIndexWrites();
        if ((error as { name?: string }).name === "ConditionalCheckFailedException") {
          m.failedConditional++;
          const cc = (error as { $metadata?: unknown; ConsumedCapacity?: unknown }).ConsumedCapacity;
          if (cc === undefined)
            m.unreported.set(`${name} (refused)`, (m.unreported.get(`${name} (refused)`) ?? 0) + 1);
        }
        throw error;
      } finally {
        inFlight--;
      }
    },
    { step: "initialize", name: "benchCostMeter", override: true },
  );
  return {
    meter: () => m,
    reset: () => {
      m = emptyMeter();
    },
    probe: (on) => {
      probing = on;
    },
  };
}

interface Scenario {
  /** Row label: the route and the case. */
  label: string;
  /** serverless.yml function name (the sample event used). */
  fn: string;
  handler: HttpHandler;
  /** The event of call i (untimed: built before the call). */
  event: (i: number) => Promise<HttpEvent> | HttpEvent;
  /** Untimed work before call i, not metered (e.g. the consume a release refunds). */
  before?: (i: number) => Promise<unknown>;
  /** Measure with warm caches only, or cold caches only (rows whose users differ per variant). */
  only?: "warm" | "cold";
  /** Answers other than 200 that are expected (e.g. 202). */
  ok?: number[];
  n?: number;
}

interface Row {
  label: string;
  fn: string;
  cold: boolean;
  n: number;
  p50: number;
  cpuMs: number;
  perCall: Meter;
}

/** Which instance caches to drop before every call: none (warm), or all of them (cold caches). */
function clearCaches() {
  clearHealthCache();
  clearFlagCache({ plans: true });
  forgetProfile();
}

const N = Number(process.env.BENCH_COST_N ?? 20);
const WARMUP = 3;
/** Calls of the index pass of each row. */
const INDEX_PASS = 4;

async function measureScenario(s: Scenario, cold: boolean, meter: ReturnType<typeof meterDynamo>) {
  const n = s.n ?? N;
  const ok = s.ok ?? [200];
  const samples: number[] = [];
  const total = emptyMeter();
  let cpu = 0;
  for (let i = -WARMUP; i < n; i++) {
    if (s.before) await s.before(i);
    const event = await s.event(i);
    if (cold) clearCaches();
    meter.reset();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const res = await s.handler(event);
    const dt = performance.now() - t0;
    const dc = process.cpuUsage(c0);
    if (!ok.includes(res.statusCode ?? 200)) {
      throw new Error(`${s.label}: answered ${res.statusCode}: ${String(res.body).slice(0, 300)}`);
    }
    if (i < 0) continue;
    samples.push(dt);
    cpu += (dc.user + dc.system) / 1000;
    const m = meter.meter();
    total.requests += m.requests;
    total.rru += m.rru;
    total.wru += m.wru;
    total.failedConditional += m.failedConditional;
    total.roundTrips += m.roundTrips;
    for (const [k, v] of m.byOperation) total.byOperation.set(k, (total.byOperation.get(k) ?? 0) + v);
    for (const [k, v] of m.wruByOperation)
      total.wruByOperation.set(k, (total.wruByOperation.get(k) ?? 0) + v);
    for (const [k, v] of m.unreported) total.unreported.set(k, (total.unreported.get(k) ?? 0) + v);
  }
  // Index pass: a few more calls with the GSI1 probe on (it reads around writes, so it is untimed).
  const probeCalls = Math.min(n, INDEX_PASS);
  meter.probe(true);
  let gsi = 0;
  for (let i = n; i < n + probeCalls; i++) {
    if (s.before) await s.before(i);
    const event = await s.event(i);
    if (cold) clearCaches();
    meter.reset();
    const res = await s.handler(event);
    if (!ok.includes(res.statusCode ?? 200)) throw new Error(`${s.label}: answered ${res.statusCode}`);
    gsi += meter.meter().gsiWrites;
  }
  meter.probe(false);
  total.gsiWrites = (gsi / probeCalls) * n;
  const per = (v: number) => v / n;
  const perCall: Meter = {
    requests: per(total.requests),
    byOperation: new Map([...total.byOperation].map(([k, v]) => [k, per(v)])),
    rru: per(total.rru),
    wru: per(total.wru),
    wruByOperation: new Map([...total.wruByOperation].map(([k, v]) => [k, per(v)])),
    unreported: new Map([...total.unreported].map(([k, v]) => [k, per(v)])),
    failedConditional: per(total.failedConditional),
    gsiWrites: per(total.gsiWrites),
    roundTrips: per(total.roundTrips),
  };
  return {
    label: s.label,
    fn: s.fn,
    cold,
    n,
    p50: percentile(samples, 50),
    cpuMs: cpu / n,
    perCall,
  } satisfies Row;
}

const TECHNIQUES_SAMPLE = ["chain_of_thought", "step_back", "few_shot", "role_play"];
const SITES = [
  "chatgpt.com",
  "claude.ai",
  "gemini.google.com",
  "https://chat.openai.com/c/x",
  "perplexity.ai",
];

/** `count` usage events shaped like events/usageBulkTrack.json, ids unique per prefix, spread over `spanMs` before `end`. */
function usageEvents(prefix: string, count: number, end: number, spanMs: number): Record<string, unknown>[] {
  const sample = JSON.parse(loadEvent("usageBulkTrack").body ?? "[]") as Record<string, unknown>[];
  return Array.from({ length: count }, (_, i) => {
    const base = { ...(sample[i % sample.length] as Record<string, unknown>) };
    delete base.consume_key;
    return {
      ...base,
      id: `${prefix}-${i}`,
      timestamp: new Date(end - Math.floor(((count - i) * spanMs) / (count + 1))).toISOString(),
      domain: SITES[i % SITES.length],
      technique: base.technique ?? TECHNIQUES_SAMPLE[i % TECHNIQUES_SAMPLE.length],
    };
  });
}

async function measure(): Promise<string> {
  const meter = meterDynamo();
  const started = performance.now();
  const run = crypto.randomUUID().slice(0, 8);
  /** A user whose profile exists (first call done, untimed), so rows measure steady-state calls. */
  const knownUser = async () => {
    const u = await freshUser("pro");
    await limitsCurrent(eventFrom("limitsCurrent", { token: u.token }));
    return u;
  };

  // A user with 90 days of history (20 events a day, each day synced the day after it, as the
  // extension does), for the analytics rows.
  const reader = await knownUser();
  const today = localDate(new Date(), "UTC");
  for (let d = 90; d >= 1; d--) {
    const day = addDays(today, -d);
    const end = Date.parse(`${day}T23:00:00Z`);
    const receivedAt = new Date(Math.min(end + 2 * 3_600_000, Date.now()));
    await trackUsage(
      { id: reader.id, roles: [] },
      usageEvents(`h-${day}`, 20, end, 12 * 3_600_000),
      receivedAt,
    );
  }

  const scenarios: Scenario[] = [];
  const perUser = async (
    label: string,
    fn: string,
    handler: HttpHandler,
    make: (token: string, i: number) => HttpEvent,
    extra: Partial<Scenario> = {},
  ) => {
    const u = await knownUser();
    scenarios.push({ label, fn, handler, event: (i) => make(u.token, i), ...extra });
  };
  const reqId = (i: number) => `cost-${run}-${i}`;

  await perUser("GET /system/health/extension", "health", health, () => eventFrom("health"));
  await perUser("GET /users/features", "features", features, (token) => eventFrom("features", { token }));
  await perUser("POST /ofrep/v1/evaluate/flags", "ofrepBulk", ofrepBulk, (token) =>
    eventFrom("ofrepBulk", { token }),
  );
  await perUser("GET /users/limits/current", "limitsCurrent", limitsCurrent, (token) =>
    eventFrom("limitsCurrent", { token }),
  );
  await perUser("POST /users/limits/check", "limitsCheck", limitsCheck, (token) =>
    eventFrom("limitsCheck", { token }),
  );
  for (const cold of [false, true]) {
    // Separate users per variant: a user's quota counter only grows through the row's own calls.
    const consumer = await knownUser();
    const releaser = await knownUser();
    const tag = cold ? "c" : "w";
    scenarios.push({
      label: "POST /users/limits/consume",
      fn: "limitsConsume",
      handler: limitsConsume,
      event: (i) =>
        eventFrom("limitsConsume", {
          token: consumer.token,
          headers: { "idempotency-key": `${reqId(i)}-${tag}` },
        }),
      only: cold ? "cold" : "warm",
    });
    scenarios.push({
      label: "POST /users/limits/release (of a charged key)",
      fn: "limitsRelease",
      handler: limitsRelease,
      before: async (i) => {
        const res = await limitsConsume(
          eventFrom("limitsConsume", {
            token: releaser.token,
            headers: { "idempotency-key": `${reqId(i)}-r${tag}` },
          }),
        );
        if (res.statusCode !== 200) throw new Error(`consume before release answered ${res.statusCode}`);
      },
      event: (i) =>
        eventFrom("limitsRelease", { token: releaser.token, body: { request_id: `${reqId(i)}-r${tag}` } }),
      only: cold ? "cold" : "warm",
    });
  }
  // A consume refused at the daily limit: its conditional UpdateItem fails (billed on AWS, see refused).
  for (const cold of [false, true]) {
    const capped = await knownUser();
    await updateProfile(capped.id, { overrides: { daily_limit: 1 } });
    forgetProfile(capped.id);
    const first = await limitsConsume(
      eventFrom("limitsConsume", { token: capped.token, headers: { "idempotency-key": `${run}-cap` } }),
    );
    if (first.statusCode !== 200)
      throw new Error(`first consume of the capped user answered ${first.statusCode}`);
    scenarios.push({
      label: "POST /users/limits/consume, refused (daily limit reached)",
      fn: "limitsConsume",
      handler: limitsConsume,
      event: (i) =>
        eventFrom("limitsConsume", {
          token: capped.token,
          headers: { "idempotency-key": `${reqId(i)}-x${cold ? "c" : "w"}` },
        }),
      ok: [429],
      only: cold ? "cold" : "warm",
    });
  }
  // Bulk-track: a fresh batch of events every call (a retry would be answered from the dedupe read alone).
  await perUser(
    "POST /users/usage/bulk-track, 5 events (last hour)",
    "usageBulkTrack",
    usageBulkTrack,
    (token, i) =>
      eventFrom("usageBulkTrack", {
        token,
        body: usageEvents(`s5-${run}-${i}-${token.length}`, 5, Date.now(), 3_600_000),
      }),
  );
  await perUser(
    "POST /users/usage/bulk-track, 500 events (last 24 h)",
    "usageBulkTrack",
    usageBulkTrack,
    (token, i) =>
      eventFrom("usageBulkTrack", {
        token,
        body: usageEvents(`s500-${run}-${i}-${token.length}`, 500, Date.now(), 86_400_000),
      }),
    { n: 10 },
  );
  for (const period of ["7d", "90d"]) {
    scenarios.push({
      label: `GET /users/usage/analytics?period=${period} (90 days of history)`,
      fn: "usageAnalytics",
      handler: usageAnalytics,
      event: () => eventFrom("usageAnalytics-get", { token: reader.token, query: { period } }),
    });
  }
  // Error reports: the sample report, a new report id each call (its group exists after the first).
  const sampleReport = JSON.parse(loadEvent("errorsReport").body ?? "{}");
  await perUser(
    "POST /system/errors/report (known group)",
    "errorsReport",
    errorsReport,
    (token, i) =>
      eventFrom("errorsReport", {
        token,
        body: {
          ...sampleReport,
          id: `r-${run}-${i}-${crypto.randomUUID()}`,
          timestamp: new Date().toISOString(),
        },
      }),
    { ok: [200, 201, 202] },
  );

  const rows: Row[] = [];
  for (const s of scenarios) {
    if (s.only !== "cold") rows.push(await measureScenario(s, false, meter));
    if (s.only !== "warm") {
      // Rate-limited routes (30 a minute per user): the cold variant runs as a second user.
      if (s.fn === "usageBulkTrack" || s.fn === "errorsReport") {
        const u = await knownUser();
        const original = s.event;
        s.event = async (i) => {
          const e = await original(i);
          e.headers.authorization = `Bearer ${u.token}`;
          return e;
        };
      }
      rows.push(await measureScenario(s, true, meter));
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const sync500 = usageEvents("size", 500, Date.now(), 86_400_000);
  return render(rows, seconds, Buffer.byteLength(JSON.stringify(sync500)));
}

const num = (v: number, digits = 2) => (Number.isInteger(v) ? String(v) : v.toFixed(digits));
const usd = (v: number) => `$${v.toFixed(2)}`;
const billedMs = (r: Row) => Math.ceil(r.p50);
const awsMs = (r: Row) =>
  Math.ceil(r.cpuMs * CPU_SLOWDOWN_AT_128MB + AWS_ROUND_TRIP_MS * r.perCall.roundTrips);
/** Write request units AWS would bill: reported + refused conditional writes (1 each, the minimum) + GSI1 item writes. */
const billedWru = (m: Meter) => m.wru + m.failedConditional + m.gsiWrites;

/** The extension session of the cost model: calls per session, by row label and cache state. */
const SESSION: { label: string; perSession: number; why: string }[] = [
  { label: "GET /system/health/extension", perSession: 1, why: "on start" },
  { label: "GET /users/features", perSession: 1, why: "on start" },
  { label: "POST /ofrep/v1/evaluate/flags", perSession: 1, why: "on start (OpenFeature provider)" },
  { label: "GET /users/limits/current", perSession: 1, why: "popup opened once" },
  { label: "POST /users/limits/check", perSession: 1, why: "before the first upgrade" },
  { label: "POST /users/limits/consume", perSession: 5, why: "N = 5 upgrades" },
  {
    label: "POST /users/limits/release (of a charged key)",
    perSession: 0.25,
    why: "1 upgrade in 20 fails and is refunded",
  },
  {
    label: "POST /users/usage/bulk-track, 5 events (last hour)",
    perSession: 1,
    why: "one sync of the 5 events",
  },
  {
    label: "POST /users/usage/bulk-track, 500 events (last 24 h)",
    perSession: 0.01,
    why: "1 session in 100 flushes an offline backlog",
  },
  {
    label: "GET /users/usage/analytics?period=7d (90 days of history)",
    perSession: 0.1,
    why: "1 session in 10 opens the dashboard",
  },
  {
    label: "GET /users/usage/analytics?period=90d (90 days of history)",
    perSession: 0.02,
    why: "1 in 50 looks at 90 days",
  },
  {
    label: "POST /system/errors/report (known group)",
    perSession: 0.02,
    why: "1 session in 50 reports an error",
  },
];

function render(rows: Row[], seconds: number, largestBodyBytes: number): string {
  const lines: string[] = [
    "## Cost model",
    "",
    "Every HTTP route of serverless.yml that the extension calls, invoked in-process through its real",
    "handler with its sample event from events/ (a signed token of a bench user whose profile exists),",
    `against this run's dynalite; ${N} measured calls per row (10 for the 500-event sync) after ${WARMUP}`,
    "warm-up calls. **Warm**: the instance's caches as the previous calls left them (profile 300 s,",
    "flag definitions and plan 5 s, health report 5 s). **Cold caches**: every cache of the instance",
    "dropped before each call (a user's first call on an instance, or a fresh instance without the",
    "import time). API Gateway requests: 1 per call on every route.",
    "",
    "DynamoDB columns are per call, as dynalite reports them with `ReturnConsumedCapacity: TOTAL` on",
    "every request (read units are request units: an eventually consistent read of up to 4 KB is 0.5).",
    "`refused` = conditional writes refused (ConditionalCheckFailedException): AWS bills write units for",
    "them, dynalite reports no ConsumedCapacity for them, so the cost model adds 1 WRU each (the minimum).",
    "`GSI1` = index item writes, which dynalite leaves out of ConsumedCapacity and AWS bills (1 WRU per",
    "KEYS_ONLY index item put or deleted; 2 when a write moves the item's index keys). Counted in a",
    `separate untimed pass of ${INDEX_PASS} more calls per row that reads each written item's GSI1 keys before and`,
    "after every write that may touch them; the cost model adds them to the reported WRU.",
    "",
    "Duration: **measured here** is the median wall time of the handler in this process against dynalite",
    "on this machine (a local round trip, a full CPU core), and the Lambda bill for it at 128 MB, rounded",
    "up to the millisecond. It is NOT an AWS figure: on AWS each DynamoDB round trip goes over the network",
    `and a 128 MB function gets about 1/${CPU_SLOWDOWN_AT_128MB.toFixed(1)} of a vCPU. **AWS estimate** (an assumption, not a`,
    `measurement) = CPU time per call here × ${CPU_SLOWDOWN_AT_128MB.toFixed(1)} (1,769 MB = 1 vCPU) + ${AWS_ROUND_TRIP_MS} ms × sequential DynamoDB round trips.`,
    "",
    "| route | caches | DynamoDB requests (by operation) | round trips | RRU | WRU reported | refused | GSI1 | p50 measured here | billed at 128 MB here | CPU ms | AWS estimate (billed) |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    const m = r.perCall;
    const ops = [...m.byOperation]
      .sort()
      .map(([k, v]) => `${k} ${num(v)}`)
      .join(", ");
    lines.push(
      `| ${r.label} | ${r.cold ? "cold" : "warm"} | ${num(m.requests)}${ops ? ` (${ops})` : ""} | ${num(m.roundTrips)} | ${num(m.rru)} | ${num(m.wru)} | ${num(m.failedConditional)} | ${num(m.gsiWrites)} | ${r.p50.toFixed(2)} ms | ${billedMs(r)} ms | ${r.cpuMs.toFixed(2)} | ${awsMs(r)} ms |`,
    );
  }
  const heavy = rows.filter((r) => !r.cold && r.perCall.wru > 5);
  lines.push(
    "",
    "Reported write units by operation (warm): " +
      heavy
        .map(
          (r) =>
            `${r.label}: ${[...r.perCall.wruByOperation]
              .sort()
              .map(([k, v]) => `${k} ${num(v)}`)
              .join(", ")}`,
        )
        .join("; ") +
      ". An UpdateItem is billed on the larger of the item's size before and after it, so rewriting a big item (a rollup that holds the day's dedupe id set) costs 1 WRU per KB of it.",
  );
  const unreported = new Map<string, number>();
  for (const r of rows)
    for (const [k, v] of r.perCall.unreported) unreported.set(k, (unreported.get(k) ?? 0) + v * r.n);
  lines.push(
    "",
    unreported.size === 0
      ? "Every successful request reported its ConsumedCapacity."
      : `Requests without ConsumedCapacity in dynalite's answer (counted over all rows): ${[...unreported].map(([k, v]) => `${k} ${Math.round(v)}`).join(", ")}.`,
    "",
  );

  // --- The session and its cost.
  lines.push(
    "### Cost per million extension sessions",
    "",
    "An **extension session** (a user opening the browser with the extension and working for a while) is",
    "defined as these calls (fractions are averages over sessions):",
    "",
    "| route | calls per session | why |",
    "|---|---|---|",
    ...SESSION.map((s) => `| ${s.label} | ${s.perSession} | ${s.why} |`),
    "",
  );
  const find = (label: string, cold: boolean) => {
    const r = rows.find((x) => x.label === label && x.cold === cold);
    if (!r) throw new Error(`no row ${label} (${cold ? "cold" : "warm"})`);
    return r;
  };
  const totals = (cold: boolean, duration: (r: Row) => number) => {
    let calls = 0;
    let rru = 0;
    let wru = 0;
    let ms = 0;
    for (const s of SESSION) {
      const r = find(s.label, cold);
      calls += s.perSession;
      rru += s.perSession * r.perCall.rru;
      wru += s.perSession * billedWru(r.perCall);
      ms += s.perSession * duration(r);
    }
    const million = 1_000_000;
    const lambdaRequests = (calls * million * PRICE.lambdaPerMillionRequests) / million;
    const lambdaDuration = (ms / 1000) * PRICE.lambdaMemoryGb * PRICE.lambdaPerGbSecond * million;
    const reads = (rru * million * PRICE.rruPerMillion) / million;
    const writes = (wru * million * PRICE.wruPerMillion) / million;
    return { calls, rru, wru, ms, lambdaRequests, lambdaDuration, reads, writes };
  };
  const cases = [
    { name: "warm, duration measured here", t: totals(false, billedMs) },
    { name: "cold caches on every call (upper bound), duration measured here", t: totals(true, billedMs) },
    { name: "warm, AWS duration estimate", t: totals(false, awsMs) },
    { name: "cold caches on every call (upper bound), AWS duration estimate", t: totals(true, awsMs) },
  ];
  lines.push(
    "Per session: " +
      cases
        .slice(0, 2)
        .map(
          ({ name, t }) =>
            `${name.split(",")[0]}: ${num(t.calls)} API requests, ${num(t.rru)} RRU, ${num(t.wru)} WRU (with refused and GSI1 writes)`,
        )
        .join("; ") +
      ".",
    "",
    "| per million sessions | API requests | Lambda requests | Lambda GB-s (128 MB) | DynamoDB reads | DynamoDB writes | HTTP API | **total, HTTP API** | REST API | **total, REST API + usage plans** |",
    "|---|---|---|---|---|---|---|---|---|---|",
  );
  for (const { name, t } of cases) {
    const gbs = (t.ms / 1000) * PRICE.lambdaMemoryGb * 1_000_000;
    const common = t.lambdaRequests + t.lambdaDuration + t.reads + t.writes;
    const http = t.calls * PRICE.httpApiPerMillion;
    const rest = t.calls * PRICE.restApiPerMillion;
    lines.push(
      `| ${name} | ${(t.calls * 1e6).toLocaleString("en-US")} | ${usd(t.lambdaRequests)} | ${Math.round(gbs).toLocaleString("en-US")} GB-s = ${usd(t.lambdaDuration)} | ${usd(t.reads)} | ${usd(t.writes)} | ${usd(http)} | **${usd(common + http)}** | ${usd(rest)} | **${usd(common + rest)}** |`,
    );
  }
  lines.push(
    "",
    `HTTP API meters a request per 512 KB of payload: the largest body here, the 500-event sync, is ${(largestBodyBytes / 1024).toFixed(0)} KB, so every call is 1 request.`,
    "",
    "Prices: AWS us-east-1 list prices as of December 2026, when this bench was written (first pricing",
    "tier, no free tier): HTTP API $1.00 per million requests; REST API $3.50 per million requests;",
    "Lambda arm64 $0.0000133334 per GB-second and $0.20 per million requests; DynamoDB on-demand",
    "$0.625 per million write request units and $0.125 per million read request units. Not included:",
    "CloudWatch Logs, data transfer out, SNS alerts, the scheduled jobs, storage.",
    "",
    "The REST API column is the same traffic through API Gateway REST with API keys and usage plans:",
    "the same Lambda calls and the same DynamoDB requests, because a usage plan's quota and throttle",
    "are best-effort (API Gateway documents that requests may exceed them) and count requests, not",
    "credits: they cannot replace the conditional-write counters, only add a coarse front gate.",
    "",
    `Bench run: ${seconds.toFixed(1)} s.`,
  );
  return `${lines.join("\n")}\n`;
}

// Last, so every module-level constant above is initialised before the measurement starts.
if (process.argv[1] === self) {
  process.stdout.write(await measure());
  process.exit(0);
}
