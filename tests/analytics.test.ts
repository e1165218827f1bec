import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { describe, expect, it } from "vitest";
import { db, TABLE } from "#lib/db/client";
import { keys } from "#lib/db/keys";
import { getAnalytics, topDomains } from "#lib/usage/analytics";
import { trackUsage } from "#lib/usage/ingest";
import { handler } from "../functions/usage-analytics.ts";
import { handler as bulkTrack } from "../functions/usage-bulk-track.ts";
import { eventFrom, freshUser, invoke } from "./helpers.ts";
import { setTimeZone, usageEvent } from "./usage-fixtures.ts";

const at = (iso: string, i: number, over: Record<string, unknown> = {}) =>
  usageEvent(i, { over: { timestamp: iso, ...over } });

/** A quota month counter item as the quota module writes it (contract: `dDD` per local day, `m` total). */
async function putQuotaMonth(userId: string, month: string, days: Record<string, number>) {
  const m = Object.values(days).reduce((a, b) => a + b, 0);
  await db.send(
    new PutCommand({ TableName: TABLE, Item: { ...keys.quotaMonth(userId, month), m, ...days } }),
  );
}

describe("usage analytics: series", () => {
  it("zero-fills the days, oldest first, aligned on the user's local days (UTC+05:30), today partial", async () => {
    const user = await freshUser();
    await setTimeZone(user.id, "Asia/Kolkata");
    const now = new Date("2026-06-15T20:00:00Z"); // 01:30 on 2026-06-16 in Kolkata
    const sync = await trackUsage(
      { id: user.id, roles: [] },
      [
        at("2026-06-15T18:29:59.999Z", 1, { success: true }), // 23:59:59.999 local, 06-15
        at("2026-06-15T18:30:00.000Z", 2, { success: true }), // 00:00 local, 06-16
        at("2026-06-11T00:00:00.000Z", 3, { success: false }), // 05:30 local, 06-11
      ],
      now,
    );
    expect(sync.accepted).toBe(3);
    const a = await getAnalytics({ id: user.id, roles: [] }, "7d", now);
    expect(a.timezone).toBe("Asia/Kolkata");
    expect(a.start_date).toBe("2026-06-10");
    expect(a.end_date).toBe("2026-06-16");
    expect(a.daily_upgrades).toEqual([
      { date: "2026-06-10", count: 0, successes: 0, partial: false },
      { date: "2026-06-11", count: 1, successes: 0, partial: false },
      { date: "2026-06-12", count: 0, successes: 0, partial: false },
      { date: "2026-06-13", count: 0, successes: 0, partial: false },
      { date: "2026-06-14", count: 0, successes: 0, partial: false },
      { date: "2026-06-15", count: 1, successes: 1, partial: false },
      { date: "2026-06-16", count: 1, successes: 1, partial: true },
    ]);
    expect(a.credit_usage.map((d) => d.credits)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(a.credit_usage.at(-1)).toEqual({ date: "2026-06-16", credits: 0, partial: true });
  });

  it("keeps local days across a DST change (America/Los_Angeles, 2026-03-08)", async () => {
    const user = await freshUser();
    await setTimeZone(user.id, "America/Los_Angeles");
    const now = new Date("2026-03-09T12:00:00Z"); // 05:00 PDT on 03-09
    await trackUsage(
      { id: user.id, roles: [] },
      [
        at("2026-03-08T07:59:59.999Z", 1), // 23:59:59.999 PST, 03-07
        at("2026-03-08T08:00:00.000Z", 2), // 00:00 PST, 03-08
        at("2026-03-08T10:30:00.000Z", 3), // 03:30 PDT, 03-08 (02:00-03:00 does not exist)
        at("2026-03-09T06:59:59.999Z", 4), // 23:59:59.999 PDT, 03-08
        at("2026-03-09T07:00:00.000Z", 5), // 00:00 PDT, 03-09
      ],
      now,
    );
    const a = await getAnalytics({ id: user.id, roles: [] }, "7d", now);
    expect(a.daily_upgrades.map((d) => [d.date, d.count])).toEqual([
      ["2026-03-03", 0],
      ["2026-03-04", 0],
      ["2026-03-05", 0],
      ["2026-03-06", 0],
      ["2026-03-07", 1],
      ["2026-03-08", 3],
      ["2026-03-09", 1],
    ]);
  });

  it("reads credit_usage from the quota counters' daily totals, across a month boundary", async () => {
    const user = await freshUser();
    const now = new Date("2026-07-02T10:00:00Z");
    await putQuotaMonth(user.id, "2026-06", { d29: 4, d30: 6, d01: 99 });
    await putQuotaMonth(user.id, "2026-07", { d01: 2, d02: 3 });
    // Events report credits too, but charges are what the quota counters say.
    await trackUsage({ id: user.id, roles: [] }, [at("2026-07-01T09:00:00Z", 1, { credits: 50 })], now);
    const a = await getAnalytics({ id: user.id, roles: [] }, "7d", now);
    expect(a.credit_usage).toEqual([
      { date: "2026-06-26", credits: 0, partial: false },
      { date: "2026-06-27", credits: 0, partial: false },
      { date: "2026-06-28", credits: 0, partial: false },
      { date: "2026-06-29", credits: 4, partial: false },
      { date: "2026-06-30", credits: 6, partial: false },
      { date: "2026-07-01", credits: 2, partial: false },
      { date: "2026-07-02", credits: 3, partial: true },
    ]);
    expect(a.totals.credits_charged).toBe(15);
    expect(a.totals.credits_reported).toBe(50);
    // June's d01 (99 credits) is outside both periods: the previous period is 06-19..06-25.
    expect(a.previous_period).toMatchObject({ start_date: "2026-06-19", end_date: "2026-06-25" });
    expect(a.previous_period.totals.credits_charged).toBe(0);
  });

  it("has one entry per day for every period (24h is today)", async () => {
    const user = await freshUser();
    const now = new Date();
    for (const [period, days] of [
      ["24h", 1],
      ["7d", 7],
      ["30d", 30],
      ["90d", 90],
    ] as const) {
      const a = await getAnalytics({ id: user.id, roles: [] }, period, now);
      expect(a.daily_upgrades).toHaveLength(days);
      expect(a.credit_usage).toHaveLength(days);
      expect(a.daily_upgrades.filter((d) => d.partial)).toHaveLength(1);
      expect(a.daily_upgrades.at(-1)?.partial).toBe(true);
    }
  });
});

describe("usage analytics: totals, rates and domains", () => {
  it("computes totals, success rate, average score and the previous period", async () => {
    const user = await freshUser();
    const now = new Date("2026-05-20T12:00:00Z");
    await trackUsage(
      { id: user.id, roles: [] },
      [
        // This period (05-14 .. 05-20)
        at("2026-05-20T08:00:00Z", 1, { success: true, improvement_score: 8, technique: "step_back" }),
        at("2026-05-19T08:00:00Z", 2, { success: true, improvement_score: 6.5, technique: "step_back" }),
        at("2026-05-18T08:00:00Z", 3, { success: false, improvement_score: undefined, type: "rewrite" }),
        at("2026-05-14T00:00:00Z", 4, { success: true, improvement_score: 7.25 }),
        // Previous period (05-07 .. 05-13)
        at("2026-05-13T23:59:59Z", 5, { success: false, improvement_score: undefined }),
        at("2026-05-07T00:00:00Z", 6, { success: true, improvement_score: 10 }),
      ],
      now,
    );
    const a = await getAnalytics({ id: user.id, roles: [] }, "7d", now);
    expect(a.success_rate).toBe(0.75);
    expect(a.avg_improvement_score).toBe(7.25);
    expect(a.totals).toMatchObject({
      upgrades: 4,
      successes: 3,
      success_rate: 0.75,
      avg_improvement_score: 7.25,
      scored: 3,
      active_days: 4,
      by_type: { upgrade: 3, rewrite: 1 },
    });
    expect(a.totals.by_technique.step_back).toBe(2);
    expect(a.previous_period).toEqual({
      start_date: "2026-05-07",
      end_date: "2026-05-13",
      totals: expect.objectContaining({
        upgrades: 2,
        successes: 1,
        success_rate: 0.5,
        avg_improvement_score: 10,
      }),
    });
  });

  it("lists the top 10 domains with counts and shares, then an `other` bucket", async () => {
    const user = await freshUser();
    const now = new Date();
    const events = [];
    let i = 0;
    // domain k (k = 0..13) used 14 - k times: 105 events over 14 domains.
    for (let k = 0; k < 14; k++) {
      for (let j = 0; j < 14 - k; j++) {
        events.push(
          usageEvent(i++, { hoursAgo: 1, over: { domain: `https://Site${k}.example.com/p?q=${j}` } }),
        );
      }
    }
    await trackUsage({ id: user.id, roles: [] }, events, now);
    const a = await getAnalytics({ id: user.id, roles: [] }, "7d", now);
    expect(a.top_domains).toHaveLength(11);
    expect(a.top_domains[0]).toEqual({ domain: "site0.example.com", count: 14, share: 0.1333 });
    expect(a.top_domains[9]).toEqual({ domain: "site9.example.com", count: 5, share: 0.0476 });
    expect(a.top_domains[10]).toEqual({ domain: "other", count: 10, share: 0.0952, other: true });
    expect(a.top_domains.reduce((acc, d) => acc + d.count, 0)).toBe(105);
  });

  it("orders domain ties by name and leaves out `other` when there are ten or fewer", () => {
    expect(topDomains({ "b.com": 2, "a.com": 2, "c.com": 5 })).toEqual([
      { domain: "c.com", count: 5, share: 0.5556 },
      { domain: "a.com", count: 2, share: 0.2222 },
      { domain: "b.com", count: 2, share: 0.2222 },
    ]);
    expect(topDomains({})).toEqual([]);
  });
});

describe("POST and GET /users/usage/analytics", () => {
  it("answers GET ?period= and POST { period } alike, from synced events", async () => {
    const user = await freshUser("pro");
    await invoke(
      bulkTrack,
      eventFrom("usageBulkTrack", { token: user.token, body: [usageEvent(1, { hoursAgo: 0 })] }),
    );
    const get = await invoke(
      handler,
      eventFrom("usageAnalytics-get", { token: user.token, query: { period: "30d" } }),
    );
    const post = await invoke(
      handler,
      eventFrom("usageAnalytics", { token: user.token, body: { period: "30d" } }),
    );
    expect(get.status).toBe(200);
    expect(post.status).toBe(200);
    const { generated_at: _g, ...getBody } = get.body;
    const { generated_at: _p, ...postBody } = post.body;
    expect(getBody).toEqual(postBody);
    expect(get.body.period).toBe("30d");
    expect(get.body.daily_upgrades).toHaveLength(30);
    expect(get.body.totals.upgrades).toBe(1);
  });

  it("defaults to 7d (POST without body, GET without query)", async () => {
    const user = await freshUser();
    const post = await invoke(handler, eventFrom("usageAnalytics", { token: user.token, rawBody: "" }));
    expect(post.status).toBe(200);
    expect(post.body.period).toBe("7d");
    const get = await invoke(handler, eventFrom("usageAnalytics-get", { token: user.token, query: {} }));
    expect(get.body.period).toBe("7d");
  });

  it("answers 422 naming the field for an unknown period", async () => {
    const user = await freshUser();
    const res = await invoke(
      handler,
      eventFrom("usageAnalytics-get", { token: user.token, query: { period: "1y" } }),
    );
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: "VALIDATION_FAILED", errors: [{ loc: ["query", "period"] }] });
    const body = await invoke(
      handler,
      eventFrom("usageAnalytics", { token: user.token, body: { period: "2d" } }),
    );
    expect(body.status).toBe(422);
    expect(body.body.errors[0].loc).toEqual(["body", "period"]);
  });
});

describe("usage analytics: security", () => {
  it("answers 401 without a token", async () => {
    const res = await invoke(handler, eventFrom("usageAnalytics-get", { token: null }));
    expect(res.status).toBe(401);
  });

  it("never shows one user's events or charges in another's analytics", async () => {
    const alice = await freshUser();
    const bob = await freshUser();
    const now = new Date();
    await trackUsage(
      { id: alice.id, roles: [] },
      [usageEvent(1, { hoursAgo: 1, over: { domain: "alice.example" } })],
      now,
    );
    await putQuotaMonth(alice.id, now.toISOString().slice(0, 7), {
      [`d${now.toISOString().slice(8, 10)}`]: 9,
    });
    // Bob sends the same event id: his own, counted for him only.
    await trackUsage(
      { id: bob.id, roles: [] },
      [usageEvent(1, { hoursAgo: 1, over: { domain: "bob.example" } })],
      now,
    );
    const res = await invoke(
      handler,
      eventFrom("usageAnalytics-get", { token: bob.token, query: { period: "90d" } }),
    );
    expect(res.status).toBe(200);
    expect(res.body.totals.upgrades).toBe(1);
    expect(res.body.totals.credits_charged).toBe(0);
    expect(res.body.top_domains).toEqual([{ domain: "bob.example", count: 1, share: 1 }]);
    expect(JSON.stringify(res.body)).not.toContain("alice");
  });
});
