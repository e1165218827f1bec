import { dynamo } from "#lib/db/client";
import { intakeLimits } from "#lib/error-reports/intake";
import type { HttpEvent, HttpHandler } from "#lib/http";
import { consumeRateLimit } from "#lib/rate-limit";
import { handler as listHandler } from "../functions/errors-list.ts";
import { handler as reportHandler } from "../functions/errors-report.ts";
import { signDevToken } from "../scripts/tokens.ts";
import { sampleReport, uniqueWord } from "../tests/error-reports-fixtures.ts";
import { loadEvent } from "../tests/helpers.ts";
import { countRequests, ms, type RequestCounter, type Timing, time } from "./harness.ts";

/**
 * Error reports: POST /system/errors/report warm in-process (JWT check, validation, scrubbing,
 * fingerprint, both rate limits, exactly-once store and count, alert gate), per path, and the
 * DynamoDB requests each path costs; GET /system/errors for the admin. The default limits apply
 * (30 reports a minute per user, 300 per group), so the load is spread over users and groups.
 */
export async function run(): Promise<string> {
  return measure();
}

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies
function reportEvent(token: string, body: any): HttpEvent {
  const event = loadEvent("errorsReport");
  event.headers.authorization = `Bearer ${token}`;
  event.body = JSON.stringify(body);
  return event;
}

interface Row {
  path: string;
  timing: Timing;
  perRequest: string;
  statuses: string;
}

async function measurePath(
  path: string,
  counter: RequestCounter,
  handler: HttpHandler,
  events: HttpEvent[],
): Promise<Row> {
  const statuses = new Map<number, number>();
  counter.reset();
  const timing = await time(
    async (i) => {
      const result = await handler(events[i] as HttpEvent);
      statuses.set(result.statusCode ?? 0, (statuses.get(result.statusCode ?? 0) ?? 0) + 1);
    },
    events.length,
    0,
  );
  const perRequest = [...counter.byOperation.entries()]
    .sort()
    .map(([op, count]) => `${op} ${(count / events.length).toFixed(2)}`)
    .join(", ");
  return {
    path,
    timing,
    perRequest: `${(counter.total() / events.length).toFixed(2)} (${perRequest})`,
    statuses: [...statuses.entries()].map(([s, c]) => `${c}× ${s}`).join(", "),
  };
}

async function measure(): Promise<string> {
  const counter = countRequests(dynamo);
  const run = uniqueWord(6);
  const tokens = await Promise.all(
    Array.from({ length: 100 }, (_, i) => signDevToken({ sub: `bench-errors-${run}-${i}` })),
  );
  const admin = await signDevToken({ sub: `bench-errors-admin-${run}`, roles: ["admin"] });
  // 20 groups, each opened before measuring (by users 99 and 98, not used below).
  const errors = Array.from({ length: 20 }, () => sampleReport());
  const newId = () => `r-${crypto.randomUUID()}`;
  for (const error of errors)
    await reportHandler(reportEvent(tokens[99] as string, { ...error, id: newId() }));
  for (const error of errors)
    await reportHandler(reportEvent(tokens[98] as string, { ...error, id: newId() }));

  // Users 0-39 send 25 reports each (under 30 a minute), 50 per group (under 300).
  const n = 1_000;
  const existing = Array.from({ length: n }, (_, i) =>
    reportEvent(tokens[i % 40] as string, { ...errors[i % 20], id: newId() }),
  );
  const rows: Row[] = [];
  rows.push(await measurePath("new report, existing group", counter, reportHandler, existing));

  // Users 40-59 send 10 reports each (not measured), then resend them: 20 a minute each.
  const originals = Array.from({ length: 200 }, (_, i) =>
    reportEvent(tokens[40 + (i % 20)] as string, { ...errors[i % 20], id: newId() }),
  );
  for (const e of originals) await reportHandler(e);
  rows.push(await measurePath("resend (duplicate)", counter, reportHandler, originals));

  // Users 60-79 open 10 new groups each.
  const newGroups = Array.from({ length: 200 }, (_, i) =>
    reportEvent(tokens[60 + (i % 20)] as string, sampleReport()),
  );
  rows.push(await measurePath("new group (alert gate + log sink)", counter, reportHandler, newGroups));

  // One user past the limit (this window and the next): each refused report looks its id up
  // (not stored) and counts a drop on its group.
  const limitedUser = `bench-errors-limited-${run}`;
  const limitedToken = await signDevToken({ sub: limitedUser });
  const now = Date.now();
  for (const t of [now, now + 60_000]) {
    await consumeRateLimit(intakeLimits().user, limitedUser, new Date(t), intakeLimits().user.limit);
  }
  const limited = Array.from({ length: 300 }, () => reportEvent(limitedToken, { ...errors[0], id: newId() }));
  rows.push(await measurePath("refused by the user limit (429)", counter, reportHandler, limited));

  const listEvent = loadEvent("errorsList");
  listEvent.headers.authorization = `Bearer ${admin}`;
  listEvent.queryStringParameters = { days: "7", limit: "20", samples: "3" };
  const list = await measurePath(
    "GET /system/errors (≈220 groups, top 20, 3 samples)",
    counter,
    listHandler,
    Array.from({ length: 50 }, () => listEvent),
  );

  const table = [...rows, list].map(
    (r) =>
      `| ${r.path} | ${r.timing.n} | ${ms(r.timing.p50)} | ${ms(r.timing.p99)} | ${r.perRequest} | ${r.statuses} |`,
  );
  return [
    "## Error reports",
    "",
    "Warm, in-process, sequential: the handler with JWT verification, zod validation, scrubbing, fingerprint,",
    "rate limits, storage and the alert gate. DynamoDB requests are counted per call by SDK middleware.",
    "No webhook is configured here, so an alert costs its gate write and a log line, not an HTTP call.",
    "",
    "| path | n | p50 | p99 | DynamoDB requests per call | statuses |",
    "|---|---|---|---|---|---|",
    ...table,
    "",
  ].join("\n");
}
