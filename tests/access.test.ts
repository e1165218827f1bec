import { describe, expect, it } from "vitest";
import type { HttpHandler } from "#lib/http";
import { handler as adminFlags } from "../functions/admin-flags.ts";
import { handler as errorsList } from "../functions/errors-list.ts";
import { handler as errorsReport } from "../functions/errors-report.ts";
import { handler as features } from "../functions/features.ts";
import { handler as limitsCheck } from "../functions/limits-check.ts";
import { handler as limitsConsume } from "../functions/limits-consume.ts";
import { handler as limitsCurrent } from "../functions/limits-current.ts";
import { handler as limitsRelease } from "../functions/limits-release.ts";
import { handler as ofrepBulk } from "../functions/ofrep-bulk.ts";
import { handler as ofrepFlag } from "../functions/ofrep-flag.ts";
import { handler as usageAnalytics } from "../functions/usage-analytics.ts";
import { handler as usageBulkTrack } from "../functions/usage-bulk-track.ts";
import { eventFrom, freshUser, invoke, userItems } from "./helpers.ts";

/**
 * Object-level authorization: whatever ids a request carries, a token acts on its own user only.
 * User A acts first; user B then sends requests naming A's ids (idempotency keys, event ids, report
 * ids, targeting keys, user_id fields); A's partition must be unchanged, byte for byte.
 */
const recentEvent = (id: string) => ({
  id,
  type: "upgrade",
  timestamp: new Date(Date.now() - 60_000).toISOString(),
  domain: "chatgpt.com",
  technique: "chain_of_thought",
  success: true,
  improvement_score: 8,
  credits: 1,
});

describe("a second user's token never reads or changes the first user's data", () => {
  it("quotas, usage, error reports and flags stay per user whatever ids the body carries", async () => {
    const a = await freshUser("pro");
    const b = await freshUser("free");

    // A uses the product.
    const consumeA = await invoke(
      limitsConsume,
      eventFrom("limitsConsume", {
        token: a.token,
        body: { action: "deep_upgrade" },
        headers: { "idempotency-key": "key-a-1" },
      }),
    );
    expect(consumeA.status).toBe(200);
    expect(
      (
        await invoke(
          usageBulkTrack,
          eventFrom("usageBulkTrack", { token: a.token, body: [recentEvent("evt-a-1")] }),
        )
      ).status,
    ).toBe(200);
    const report = JSON.parse(eventFrom("errorsReport").body ?? "{}");
    expect(
      (await invoke(errorsReport, eventFrom("errorsReport", { token: a.token, body: report }))).status,
    ).toBe(202);
    const before = await userItems(a.id);
    const analyticsA = (
      await invoke(usageAnalytics, eventFrom("usageAnalytics", { token: a.token, body: { period: "7d" } }))
    ).body;

    // B names A's ids everywhere it can.
    const asB: [HttpHandler, ReturnType<typeof eventFrom>][] = [
      [limitsRelease, eventFrom("limitsRelease", { token: b.token, body: { request_id: "key-a-1" } })],
      [
        limitsRelease,
        eventFrom("limitsRelease", { token: b.token, headers: { "idempotency-key": "key-a-1" } }),
      ],
      [
        limitsConsume,
        eventFrom("limitsConsume", {
          token: b.token,
          body: { action: "upgrade" },
          headers: { "idempotency-key": "key-a-1" },
        }),
      ],
      [limitsCurrent, eventFrom("limitsCurrent", { token: b.token, query: { user_id: a.id } })],
      [limitsCheck, eventFrom("limitsCheck", { token: b.token, body: { action: "upgrade", user_id: a.id } })],
      [usageBulkTrack, eventFrom("usageBulkTrack", { token: b.token, body: [recentEvent("evt-a-1")] })],
      [
        usageBulkTrack,
        eventFrom("usageBulkTrack", { token: b.token, body: [{ ...recentEvent("evt-a-2"), user_id: a.id }] }),
      ],
      [
        usageAnalytics,
        eventFrom("usageAnalytics", { token: b.token, body: { period: "7d", user_id: a.id } }),
      ],
      [errorsReport, eventFrom("errorsReport", { token: b.token, body: report })],
      [features, eventFrom("features", { token: b.token, query: { user_id: a.id } })],
      [ofrepBulk, eventFrom("ofrepBulk", { token: b.token, body: { context: { targetingKey: a.id } } })],
      [ofrepFlag, eventFrom("ofrepFlag", { token: b.token, body: { context: { targetingKey: a.id } } })],
    ];
    for (const [handler, event] of asB) {
      const res = await invoke(handler, event);
      expect(res.status, `${event.routeKey} answered ${res.status}`).toBeLessThan(500);
    }

    // B's own consume under A's key charged B, not A; B sees only its own numbers.
    const currentB = await invoke(limitsCurrent, eventFrom("limitsCurrent", { token: b.token }));
    expect(currentB.body).toMatchObject({ plan: "free", daily_used: 1 });
    const analyticsB = (
      await invoke(usageAnalytics, eventFrom("usageAnalytics", { token: b.token, body: { period: "7d" } }))
    ).body;

    // B synced evt-a-1 as its own event; the copy with a user_id field was rejected (strict schema).
    expect(analyticsB.totals.upgrades).toBe(1);
    expect(analyticsA.totals.upgrades).toBe(1);
    expect(await userItems(a.id)).toEqual(before);
    const currentA = await invoke(limitsCurrent, eventFrom("limitsCurrent", { token: a.token }));
    expect(currentA.body).toMatchObject({ daily_used: 5, monthly_used: 5 });
  });

  it("admin routes refuse a user token, whatever it claims in other fields", async () => {
    const b = await freshUser("team", ["user", "support"]);
    for (const [handler, name] of [
      [adminFlags, "adminFlags"],
      [adminFlags, "adminFlags-kill"],
      [adminFlags, "adminFlags-override"],
      [errorsList, "errorsList"],
    ] as const) {
      const res = await invoke(handler, eventFrom(name, { token: b.token }));
      expect(res.status).toBe(403);
      expect(res.body.code).toBe("FORBIDDEN");
    }
  });
});
