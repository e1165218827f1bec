import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { dynamo } from "#lib/db/client";
import { clearHealthCache } from "#lib/health";
import type { HttpEvent, HttpHandler } from "#lib/http";
import { handler as adminFlags } from "../functions/admin-flags.ts";
import { handler as errorsList } from "../functions/errors-list.ts";
import { handler as errorsReport } from "../functions/errors-report.ts";
import { handler as features } from "../functions/features.ts";
import { handler as health } from "../functions/health.ts";
import { handler as limitsCheck } from "../functions/limits-check.ts";
import { handler as limitsConsume } from "../functions/limits-consume.ts";
import { handler as limitsCurrent } from "../functions/limits-current.ts";
import { handler as limitsRelease } from "../functions/limits-release.ts";
import { handler as ofrepBulk } from "../functions/ofrep-bulk.ts";
import { handler as ofrepFlag } from "../functions/ofrep-flag.ts";
import { handler as usageAnalytics } from "../functions/usage-analytics.ts";
import { handler as usageBulkTrack } from "../functions/usage-bulk-track.ts";
import { type Fault, faultPlan, faultSyncEvents } from "./fault-plan.ts";
import { eventFrom, freshUser, invoke, userItems } from "./helpers.ts";

/**
 * Faults a real dynalite cannot produce on demand, injected by SDK middleware on the process's one
 * DynamoDB client at the `initialize` step (outside the SDK's own retries):
 * - `before`: the request never reaches the database (throttled, or a connection that failed);
 * - `after`: the database applied the request but the answer was lost (a timeout after the write).
 */
let decide: (() => Fault | undefined) | undefined;

dynamo.middlewareStack.add(
  (next) => async (args) => {
    const fault = decide?.();
    if (fault === "before") throw throttled();
    const result = await next(args);
    if (fault === "after") throw throttled();
    return result;
  },
  { step: "initialize", name: "faultInjection", priority: "high" },
);

function throttled(): Error {
  const error = new Error("Rate of requests exceeds the allowed throughput.");
  error.name = "ProvisionedThroughputExceededException";
  Object.assign(error, { $metadata: { httpStatusCode: 400 } });
  return error;
}

afterEach(() => {
  decide = undefined;
});

interface RouteCase {
  name: string;
  handler: HttpHandler;
  event: string;
  admin?: boolean;
}

const ROUTES: RouteCase[] = [
  { name: "GET /users/limits/current", handler: limitsCurrent, event: "limitsCurrent" },
  { name: "POST /users/limits/check", handler: limitsCheck, event: "limitsCheck" },
  { name: "POST /users/limits/consume", handler: limitsConsume, event: "limitsConsume" },
  { name: "POST /users/limits/release", handler: limitsRelease, event: "limitsRelease" },
  { name: "POST /users/usage/bulk-track", handler: usageBulkTrack, event: "usageBulkTrack" },
  { name: "POST /users/usage/analytics", handler: usageAnalytics, event: "usageAnalytics" },
  { name: "GET /users/features", handler: features, event: "features" },
  { name: "POST /ofrep/v1/evaluate/flags", handler: ofrepBulk, event: "ofrepBulk" },
  { name: "POST /ofrep/v1/evaluate/flags/{key}", handler: ofrepFlag, event: "ofrepFlag" },
  { name: "POST /system/errors/report", handler: errorsReport, event: "errorsReport" },
  { name: "GET /system/errors", handler: errorsList, event: "errorsList", admin: true },
  { name: "GET /admin/flags", handler: adminFlags, event: "adminFlags", admin: true },
];

describe("DynamoDB throttling on every request", () => {
  it.each(ROUTES)("$name answers 503 with Retry-After and writes nothing", async (route) => {
    const user = await freshUser("pro", route.admin ? ["admin"] : undefined);
    decide = () => "before";
    const res = await invoke(route.handler, eventFrom(route.event, { token: user.token }));
    decide = undefined;
    expect(res.status).toBe(503);
    expect(res.headers["Retry-After"]).toMatch(/^\d+$/);
    expect(res.body).toMatchObject({ code: "UNAVAILABLE", detail: expect.any(String) });
    expect(await userItems(user.id)).toEqual([]);
  });

  it("the health check reports usage_tracking down (200, not 503: it is the status page)", async () => {
    clearHealthCache();
    decide = () => "before";
    const res = await invoke(health, eventFrom("health"));
    decide = undefined;
    clearHealthCache();
    expect(res.status).toBe(200);
    expect(res.body.services.usage_tracking).toBe("down");
  });
});

/** Sends a request again until it is answered with something other than 503, as the extension does. */
async function untilAnswered(handler: HttpHandler, event: () => HttpEvent, maxTries = 400) {
  for (let i = 0; i < maxTries; i++) {
    const res = await invoke(handler, event());
    if (res.status !== 503) return res;
  }
  throw new Error("still unavailable after retries");
}

describe("interrupted sequences, retried, end with exact state", () => {
  it("consumes with idempotency keys charge each key exactly once whatever fails", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 }), async (seed) => {
        const user = await freshUser("pro");
        const consumes = 12;
        decide = faultPlan(seed, 0.35);
        for (let i = 0; i < consumes; i++) {
          const res = await untilAnswered(limitsConsume, () =>
            eventFrom("limitsConsume", {
              token: user.token,
              body: { action: "upgrade" },
              headers: { "idempotency-key": `seq-${i}` },
            }),
          );
          expect(res.status).toBe(200);
        }
        decide = undefined;
        const current = await invoke(limitsCurrent, eventFrom("limitsCurrent", { token: user.token }));
        expect(current.body.daily_used).toBe(consumes);
        expect(current.body.monthly_used).toBe(consumes);
      }),
      { seed: 20261203, numRuns: 6 },
    );
  });

  it("a bulk sync retried through faults gives exactly the analytics of one clean sync", async () => {
    const events = faultSyncEvents("evt-fault");
    const analytics = async (token: string) =>
      (await invoke(usageAnalytics, eventFrom("usageAnalytics", { token, body: { period: "7d" } }))).body;

    const clean = await freshUser("pro");
    expect(
      (await invoke(usageBulkTrack, eventFrom("usageBulkTrack", { token: clean.token, body: events })))
        .status,
    ).toBe(200);
    const expected = await analytics(clean.token);

    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 }), async (seed) => {
        const user = await freshUser("pro");
        decide = faultPlan(seed, 0.08);
        // The extension resends the whole batch until one answer arrives, then once more (a retry of a success).
        await untilAnswered(usageBulkTrack, () =>
          eventFrom("usageBulkTrack", { token: user.token, body: events }),
        );
        await untilAnswered(usageBulkTrack, () =>
          eventFrom("usageBulkTrack", { token: user.token, body: events }),
        );
        decide = undefined;
        const got = await analytics(user.token);
        expect({ ...got, generated_at: undefined }).toEqual({ ...expected, generated_at: undefined });
      }),
      { seed: 20261203, numRuns: 5 },
    );
  });
});
