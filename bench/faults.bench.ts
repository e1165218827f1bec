/**
 * Faults, measured. Part 1, in child processes whose DynamoDB endpoint is down: a closed port
 * (unreachable) and a port that accepts and never answers (hanging). Every route is called with its
 * sample event; the table shows what it answered and how long it took. Part 2, against the bench's
 * dynalite: consume and sync sequences whose DynamoDB requests fail at random points (before the
 * request, or after it was applied with the answer lost), retried until answered, then compared
 * with the same sequences run cleanly: the number of runs whose final state differs.
 */
import { execFile } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { promisify } from "node:util";
import { type Fault, faultPlan, faultSyncEvents } from "../tests/fault-plan.ts";

const LAMBDA_TIMEOUT_MS = 6_000;

interface Answer {
  route: string;
  status: number;
  ms: number;
  retryAfter: boolean;
}

/** Child: call every route once against the given endpoint and print the answers as JSON. */
async function child(endpoint: string) {
  process.env.DYNAMODB_ENDPOINT = endpoint;
  process.env.LOG_LEVEL = "silent";
  const { FUZZ_ROUTES } = await import("../tests/fuzz/cases.ts");
  const { loadEvent } = await import("../tests/helpers.ts");
  const answers: Answer[] = [];
  for (const route of FUZZ_ROUTES) {
    const handler = await route.load();
    const started = performance.now();
    const result = await handler(loadEvent(route.event));
    answers.push({
      route: route.name,
      status: result.statusCode ?? 200,
      ms: performance.now() - started,
      retryAfter: Boolean(result.headers?.["Retry-After"]),
    });
  }
  process.stdout.write(JSON.stringify(answers));
}

if (process.argv[2] === "--child" && process.argv[3]) {
  await child(process.argv[3]);
  process.exit(0);
}

async function outage(endpoint: string): Promise<Answer[]> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", new URL(import.meta.url).pathname, "--child", endpoint],
    { env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" }, maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout) as Answer[];
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as { port: number }).port;
}

async function recovery(runs: number) {
  const { dynamo } = await import("#lib/db/client");
  const { eventFrom, freshUser, invoke } = await import("../tests/helpers.ts");
  const consume = (await import("../functions/limits-consume.ts")).handler;
  const current = (await import("../functions/limits-current.ts")).handler;
  const bulkTrack = (await import("../functions/usage-bulk-track.ts")).handler;
  const analytics = (await import("../functions/usage-analytics.ts")).handler;
  let decide: (() => Fault | undefined) | undefined;
  let injected = 0;
  const name = "benchFaultInjection";
  dynamo.middlewareStack.add(
    (next) => async (args) => {
      const fault = decide?.();
      if (fault) injected++;
      const thrown = () =>
        Object.assign(new Error("injected"), { name: "ProvisionedThroughputExceededException" });
      if (fault === "before") throw thrown();
      const result = await next(args);
      if (fault === "after") throw thrown();
      return result;
    },
    { step: "initialize", name, priority: "high" },
  );
  const untilAnswered = async (send: () => Promise<{ status: number }>) => {
    let tries = 0;
    for (;;) {
      tries++;
      const res = await send();
      if (res.status !== 503) return tries;
    }
  };

  let consumeDiffs = 0;
  let consumeRetries = 0;
  for (let seed = 1; seed <= runs; seed++) {
    const u = await freshUser("pro");
    decide = faultPlan(seed, 0.35);
    for (let i = 0; i < 12; i++) {
      consumeRetries +=
        (await untilAnswered(() =>
          invoke(
            consume,
            eventFrom("limitsConsume", {
              token: u.token,
              body: { action: "upgrade" },
              headers: { "idempotency-key": `k-${i}` },
            }),
          ),
        )) - 1;
    }
    decide = undefined;
    const body = (await invoke(current, eventFrom("limitsCurrent", { token: u.token }))).body;
    if (body.daily_used !== 12 || body.monthly_used !== 12) consumeDiffs++;
  }

  const events = faultSyncEvents("bench-fault");
  const view = async (token: string) => {
    const { generated_at: _, ...rest } = (
      await invoke(analytics, eventFrom("usageAnalytics", { token, body: { period: "7d" } }))
    ).body;
    return JSON.stringify(rest);
  };
  const clean = await freshUser("pro");
  await invoke(bulkTrack, eventFrom("usageBulkTrack", { token: clean.token, body: events }));
  const expected = await view(clean.token);
  let syncDiffs = 0;
  let syncRetries = 0;
  for (let seed = 1; seed <= runs; seed++) {
    const u = await freshUser("pro");
    decide = faultPlan(seed, 0.08);
    syncRetries +=
      (await untilAnswered(() =>
        invoke(bulkTrack, eventFrom("usageBulkTrack", { token: u.token, body: events })),
      )) - 1;
    decide = undefined;
    if ((await view(u.token)) !== expected) syncDiffs++;
  }
  dynamo.middlewareStack.remove(name);
  return { consumeDiffs, consumeRetries, syncDiffs, syncRetries, injected };
}

export async function run(): Promise<string> {
  const probe = createServer();
  const closedPort = await listen(probe);
  await new Promise<void>((r) => probe.close(() => r()));
  const sockets: Socket[] = [];
  const hanging = createServer((socket) => sockets.push(socket));
  const hangingPort = await listen(hanging);

  const [unreachable, slow] = await Promise.all([
    outage(`http://127.0.0.1:${closedPort}`),
    outage(`http://127.0.0.1:${hangingPort}`),
  ]);
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => hanging.close(() => r()));

  const ok = (a: Answer) =>
    a.ms < LAMBDA_TIMEOUT_MS && (a.route === "health" ? a.status === 200 : a.status === 503 && a.retryAfter);
  const rows = unreachable.map((a, i) => {
    const b = slow[i] as Answer;
    return `| ${a.route} | ${a.status}${a.retryAfter ? " + Retry-After" : ""}, ${a.ms.toFixed(0)} ms | ${b.status}${b.retryAfter ? " + Retry-After" : ""}, ${b.ms.toFixed(0)} ms |`;
  });
  const answered = [...unreachable, ...slow].filter(ok).length;
  const runs = 20;
  const r = await recovery(runs);
  return [
    "## Faults: outage answers and exact state after recovery",
    "",
    "Each route called once with its sample event while DynamoDB is down (health answers 200 and reports",
    "`usage_tracking` down; every other route 503 with `Retry-After`). Client: 500 ms connect and 1,500 ms request",
    `timeouts, 2 attempts; Lambda timeout ${LAMBDA_TIMEOUT_MS / 1000} s.`,
    "",
    "| route | unreachable (closed port) | hanging (accepts, never answers) |",
    "|---|---|---|",
    ...rows,
    "",
    `Answered as specified within the Lambda timeout: **${answered} of ${unreachable.length + slow.length}** requests.`,
    "",
    `Recovery: ${runs} seeded runs of each sequence; DynamoDB requests fail at random (${r.injected} faults injected,`,
    "half before the request, half after it was applied with the answer lost); every request is retried until answered.",
    "",
    "| sequence | retries needed | runs whose final state differs from a clean run |",
    "|---|---|---|",
    `| 12 consumes with idempotency keys, 35% of requests failing | ${r.consumeRetries} | **${r.consumeDiffs} of ${runs}** |`,
    `| one 40-event sync over 4 days, 8% of requests failing | ${r.syncRetries} | **${r.syncDiffs} of ${runs}** |`,
  ].join("\n");
}
