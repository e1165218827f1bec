import { DeleteCommand, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { describe, expect, it } from "vitest";
import type { AuthUser } from "#lib/auth";
import { db, dynamo, TABLE } from "#lib/db/client";
import { keys } from "#lib/db/keys";
import { forgetProfile, getOrCreateProfile, rememberProfile, updateProfile } from "#lib/profile";
import {
  checkLimits,
  consumeCredits,
  currentLimits,
  dailyCreditsFromQuotaItem,
  releaseCredits,
  resetQuota,
  setPlan,
} from "#lib/quotas";
import { localMonth } from "#lib/time";
import { countRequests } from "../bench/harness.ts";
import { handler as checkHandler } from "../functions/limits-check.ts";
import { handler as consumeHandler } from "../functions/limits-consume.ts";
import { handler as currentHandler } from "../functions/limits-current.ts";
import { handler as releaseHandler } from "../functions/limits-release.ts";
import { eventFrom, freshUser, invoke } from "./helpers.ts";

const counter = countRequests(dynamo);

async function monthItem(userId: string, month: string) {
  const { Item } = await db.send(
    new GetCommand({ TableName: TABLE, Key: keys.quotaMonth(userId, month), ConsistentRead: true }),
  );
  return Item;
}

const asUser = (id: string, plan?: string): AuthUser => ({ id, plan, roles: [] });

/** The sample consume event with the caller's token, body and (only when given) Idempotency-Key. */
function consumeEvent(token: string, body: unknown = { action: "upgrade" }, key?: string) {
  const event = eventFrom("limitsConsume", { token, body });
  delete event.headers["idempotency-key"];
  if (key !== undefined) event.headers["idempotency-key"] = key;
  return event;
}

describe("GET /users/limits/current", () => {
  it("reports a new pro user's full limits, resets and binding window", async () => {
    const u = await freshUser("pro");
    const res = await invoke(currentHandler, eventFrom("limitsCurrent", { token: u.token }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      plan: "pro",
      timezone: "UTC",
      daily_limit: 500,
      daily_used: 0,
      daily_remaining: 500,
      monthly_limit: 15000,
      monthly_used: 0,
      monthly_remaining: 15000,
      remaining_credits: 500,
      resets_at: expect.stringMatching(/T00:00:00\.000Z$/),
      monthly_resets_at: expect.stringMatching(/-01T00:00:00\.000Z$/),
      binding_window: "daily",
    });
  });

  it("creates the profile on first use with the token's plan, or free", async () => {
    const u = await freshUser();
    const res = await invoke(currentHandler, eventFrom("limitsCurrent", { token: u.token }));
    expect(res.body).toMatchObject({ plan: "free", daily_limit: 20, monthly_limit: 300 });
    const unknown = await freshUser("platinum");
    const res2 = await invoke(currentHandler, eventFrom("limitsCurrent", { token: unknown.token }));
    expect(res2.body.plan).toBe("free");
  });

  it("shows the monthly window binding when fewer monthly credits are left", async () => {
    const u = await freshUser("pro");
    await updateProfile(u.id, { overrides: { monthly_limit: 3 } });
    const res = await invoke(currentHandler, eventFrom("limitsCurrent", { token: u.token }));
    expect(res.body).toMatchObject({ monthly_limit: 3, monthly_remaining: 3, binding_window: "monthly" });
  });

  it("answers 401 without a token", async () => {
    const event = eventFrom("limitsCurrent");
    delete event.headers.authorization;
    const res = await invoke(currentHandler, event);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({
      detail: "Not authenticated",
      code: "UNAUTHORIZED",
      request_id: expect.any(String),
    });
  });
});

describe("POST /users/limits/check", () => {
  it("accepts a JSON body and consumes nothing", async () => {
    const u = await freshUser("pro");
    const res = await invoke(checkHandler, eventFrom("limitsCheck", { token: u.token }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      action: "upgrade",
      credits_required: 1,
      allowed: true,
      remaining_credits: 500,
      daily_remaining: 500,
      monthly_remaining: 15000,
      upgrade_required: false,
    });
    const after = await currentLimits(asUser(u.id), new Date());
    expect(after.daily_used).toBe(0);
  });

  it("accepts the query string (as the FastAPI route did)", async () => {
    const u = await freshUser("pro");
    const res = await invoke(checkHandler, eventFrom("limitsCheck-query", { token: u.token }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ action: "deep_upgrade", credits_required: 5, allowed: true });
  });

  it("defaults to one upgrade without body or query", async () => {
    const u = await freshUser();
    const event = eventFrom("limitsCheck", { token: u.token, rawBody: "" });
    const res = await invoke(checkHandler, event);
    expect(res.body).toMatchObject({ action: "upgrade", credits_required: 1, allowed: true });
  });

  it("refuses with reason, resets_at and upgrade_required when a higher plan would allow it", async () => {
    const u = await freshUser("free");
    const res = await invoke(
      checkHandler,
      eventFrom("limitsCheck", { token: u.token, body: { credits_required: 21 } }),
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      action: "upgrade",
      credits_required: 21,
      allowed: false,
      remaining_credits: 20,
      daily_remaining: 20,
      monthly_remaining: 300,
      upgrade_required: true,
      reason: "daily_limit_reached",
      resets_at: expect.stringMatching(/T00:00:00\.000Z$/),
    });
  });

  it("answers 422 naming the field for an unknown action (body or query) and a bad credits value", async () => {
    const u = await freshUser();
    const bad = await invoke(
      checkHandler,
      eventFrom("limitsCheck", { token: u.token, body: { action: "mine_bitcoin" } }),
    );
    expect(bad.status).toBe(422);
    expect(bad.body.code).toBe("VALIDATION_FAILED");
    expect(bad.body.errors[0].loc).toEqual(["body", "action"]);
    const badQuery = await invoke(
      checkHandler,
      eventFrom("limitsCheck-query", { token: u.token, query: { action: "nope" } }),
    );
    expect(badQuery.status).toBe(422);
    expect(badQuery.body.errors[0].loc).toEqual(["query", "action"]);
    const zero = await invoke(
      checkHandler,
      eventFrom("limitsCheck", { token: u.token, body: { credits_required: 0 } }),
    );
    expect(zero.status).toBe(422);
    const text = await invoke(
      checkHandler,
      eventFrom("limitsCheck", { token: u.token, body: { credits_required: "x" } }),
    );
    expect(text.status).toBe(422);
  });

  it("answers 400 for malformed JSON", async () => {
    const u = await freshUser();
    const res = await invoke(checkHandler, eventFrom("limitsCheck", { token: u.token, rawBody: "{nope" }));
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("INVALID_JSON");
  });
});

describe("POST /users/limits/consume", () => {
  it("charges the action's server-side price against both windows", async () => {
    const u = await freshUser("pro");
    const res = await invoke(consumeHandler, consumeEvent(u.token, { action: "deep_upgrade" }, "k-1"));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      allowed: true,
      action: "deep_upgrade",
      charged: 5,
      consume_key: "k-1",
      replayed: false,
      remaining_credits: 495,
      daily_remaining: 495,
      monthly_remaining: 14995,
      upgrade_required: false,
    });
    const now = new Date();
    const item = await monthItem(u.id, localMonth(now, "UTC"));
    expect(item?.m).toBe(5);
    expect(dailyCreditsFromQuotaItem(item ?? {})).toEqual({ [now.toISOString().slice(0, 10)]: 5 });
  });

  it("refuses past the limit with 429, Retry-After and the check fields", async () => {
    const u = await freshUser("free");
    await updateProfile(u.id, { overrides: { daily_limit: 2 } });
    for (let i = 0; i < 2; i++) {
      const ok = await invoke(consumeHandler, consumeEvent(u.token, undefined, `a${i}`));
      expect(ok.status).toBe(200);
    }
    const res = await invoke(consumeHandler, consumeEvent(u.token, undefined, "a3"));
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers["Retry-After"]);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    expect(res.body).toEqual({
      detail: expect.stringContaining("daily credit limit"),
      code: "QUOTA_EXCEEDED",
      request_id: expect.any(String),
      action: "upgrade",
      credits_required: 1,
      allowed: false,
      remaining_credits: 0,
      daily_remaining: 0,
      monthly_remaining: 298,
      upgrade_required: true,
      reason: "daily_limit_reached",
      resets_at: expect.any(String),
    });
    expect(Date.parse(res.body.resets_at) - Date.now()).toBeGreaterThan((retryAfter - 2) * 1000);
  });

  it("answers 422 for an unknown or missing action and for a malformed key", async () => {
    const u = await freshUser();
    for (const body of [{ action: "hack" }, {}, { action: "upgrade", request_id: "has space" }]) {
      const res = await invoke(consumeHandler, consumeEvent(u.token, body));
      expect(res.status).toBe(422);
      expect(res.body.code).toBe("VALIDATION_FAILED");
    }
    const header = await invoke(consumeHandler, consumeEvent(u.token, undefined, "x".repeat(129)));
    expect(header.status).toBe(422);
    const differ = await invoke(
      consumeHandler,
      consumeEvent(u.token, { action: "upgrade", request_id: "b" }, "a"),
    );
    expect(differ.status).toBe(422);
    expect((await currentLimits(asUser(u.id), new Date())).daily_used).toBe(0);
  });
});

describe("idempotency", () => {
  it("a retry with the same key returns the original decision and charges nothing", async () => {
    const u = await freshUser("pro");
    const event = () => consumeEvent(u.token, undefined, "retry-1");
    const first = await invoke(consumeHandler, event());
    const second = await invoke(consumeHandler, event());
    expect(first.body).toMatchObject({ charged: 1, replayed: false, consume_key: "retry-1" });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({
      charged: 1,
      replayed: true,
      released: false,
      consume_key: "retry-1",
      daily_remaining: 499,
    });
    const byBody = await invoke(
      consumeHandler,
      consumeEvent(u.token, { action: "upgrade", request_id: "retry-1" }),
    );
    expect(byBody.body.replayed).toBe(true);
    expect((await currentLimits(asUser(u.id), new Date())).daily_used).toBe(1);
  });

  /**
   * A flaky database: while `state.flaky`, every UpdateItem reaches the table but its answer is
   * lost, and every other request fails before it is sent (the instance "crashed" after writing).
   */
  function flakyDatabase() {
    const state = { flaky: true };
    const timeout = () => Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
    dynamo.middlewareStack.add(
      (next, context) => async (args) => {
        if (!state.flaky) return next(args);
        if (!String(context.commandName).startsWith("UpdateItem")) throw timeout();
        await next(args);
        throw timeout();
      },
      { step: "finalizeRequest", name: "flakyDatabase", override: true },
    );
    return state;
  }

  it("a charge whose answer was lost is found by the retry: charged once, never lost", async () => {
    const u = await freshUser("pro");
    await invoke(consumeHandler, consumeEvent(u.token, undefined, "before")); // profile cached, counter exists
    try {
      const db = flakyDatabase();
      const lost = await invoke(consumeHandler, consumeEvent(u.token, { action: "rewrite" }, "lost-1"));
      expect(lost.status).toBe(503);
      expect(lost.headers["Retry-After"]).toBeDefined();
      db.flaky = false;
      const retry = await invoke(consumeHandler, consumeEvent(u.token, { action: "rewrite" }, "lost-1"));
      expect(retry.body).toMatchObject({ replayed: true, charged: 2, daily_remaining: 497 });
    } finally {
      dynamo.middlewareStack.remove("flakyDatabase");
    }
    expect((await currentLimits(asUser(u.id), new Date())).daily_used).toBe(3);
  });

  it("50 concurrent retries of one key charge once", async () => {
    const u = asUser(`test-${crypto.randomUUID()}`, "pro");
    const now = new Date();
    const results = await Promise.all(
      Array.from({ length: 50 }, () => consumeCredits(u, "rewrite", "same", now)),
    );
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect((await currentLimits(u, now)).daily_used).toBe(2);
  });

  it("a key reused for another action is a 409 and charges nothing", async () => {
    const u = await freshUser("pro");
    await invoke(consumeHandler, consumeEvent(u.token, undefined, "x1"));
    const res = await invoke(consumeHandler, consumeEvent(u.token, { action: "deep_upgrade" }, "x1"));
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("CONFLICT");
    expect((await currentLimits(asUser(u.id), new Date())).daily_used).toBe(1);
  });

  it("remembers keys across local midnight and across a month boundary", async () => {
    const u = asUser(`test-${crypto.randomUUID()}`, "pro");
    const before = new Date("2026-12-31T23:59:30.000Z");
    const after = new Date("2027-01-01T00:20:00.000Z");
    await consumeCredits(u, "upgrade", "late", before);
    forgetProfile(u.id);
    const cold = await consumeCredits(u, "upgrade", "late", after);
    expect(cold.replayed).toBe(true);
    const warm = await consumeCredits(u, "upgrade", "late", after);
    expect(warm.replayed).toBe(true);
    expect((await monthItem(u.id, "2026-12"))?.m).toBe(1);
    expect(await monthItem(u.id, "2027-01")).toBeUndefined();
  });

  it("forgets a key after the idempotency window (documented: at least 50 minutes)", async () => {
    const u = asUser(`test-${crypto.randomUUID()}`, "pro");
    const t0 = new Date("2026-11-10T10:00:00.000Z");
    await consumeCredits(u, "upgrade", "old", t0);
    expect((await consumeCredits(u, "upgrade", "old", new Date(t0.getTime() + 49 * 60_000))).replayed).toBe(
      true,
    );
    expect((await consumeCredits(u, "upgrade", "old", new Date(t0.getTime() + 70 * 60_000))).replayed).toBe(
      false,
    );
  });

  it("without a key, each consume charges and returns a fresh key for release", async () => {
    const u = await freshUser("pro");
    const a = await invoke(consumeHandler, consumeEvent(u.token));
    expect(a.body.consume_key).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("POST /users/limits/release", () => {
  it("refunds a consumed key once", async () => {
    const u = await freshUser("pro");
    await invoke(consumeHandler, consumeEvent(u.token, { action: "deep_upgrade", request_id: "r-1" }));
    const first = await invoke(
      releaseHandler,
      eventFrom("limitsRelease", { token: u.token, body: { request_id: "r-1" } }),
    );
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      consume_key: "r-1",
      released: true,
      refunded: 5,
      daily_remaining: 500,
      monthly_remaining: 15000,
      remaining_credits: 500,
    });
    const second = await invoke(
      releaseHandler,
      eventFrom("limitsRelease", { token: u.token, headers: { "idempotency-key": "r-1" }, body: {} }),
    );
    expect(second.body).toMatchObject({ released: false, refunded: 0, daily_remaining: 500 });
    const replay = await invoke(
      consumeHandler,
      consumeEvent(u.token, { action: "deep_upgrade", request_id: "r-1" }),
    );
    expect(replay.body).toMatchObject({ replayed: true, released: true });
    expect((await currentLimits(asUser(u.id), new Date())).daily_used).toBe(0);
  });

  it("concurrent releases of one key refund once", async () => {
    const u = asUser(`test-${crypto.randomUUID()}`, "pro");
    const now = new Date();
    await consumeCredits(u, "deep_upgrade", "cr", now);
    await consumeCredits(u, "upgrade", "other", now);
    const results = await Promise.all(Array.from({ length: 20 }, () => releaseCredits(u, "cr", now)));
    expect(results.filter((r) => r.released)).toHaveLength(1);
    expect((await currentLimits(u, now)).daily_used).toBe(1);
  });

  it("never refunds below zero (after a support reset)", async () => {
    const u = asUser(`test-${crypto.randomUUID()}`, "pro");
    const now = new Date();
    await consumeCredits(u, "deep_upgrade", "z", now);
    await resetQuota(u.id, now);
    const res = await releaseCredits(u, "z", now);
    expect(res).toMatchObject({ released: true, refunded: 0 });
    const report = await currentLimits(u, now);
    expect(report.daily_used).toBe(0);
    expect(report.monthly_used).toBe(0);
  });

  it("answers 404 for an unknown key and 422 without a key", async () => {
    const u = await freshUser("pro");
    const unknown = await invoke(
      releaseHandler,
      eventFrom("limitsRelease", { token: u.token, body: { request_id: "never" } }),
    );
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe("NOT_FOUND");
    const none = await invoke(releaseHandler, eventFrom("limitsRelease", { token: u.token, body: {} }));
    expect(none.status).toBe(422);
  });
});

describe("security: another user's token", () => {
  it("never sees or changes these counters", async () => {
    const alice = await freshUser("pro");
    const mallory = await freshUser("pro");
    await invoke(
      consumeHandler,
      consumeEvent(alice.token, { action: "deep_upgrade", request_id: "alice-1" }),
    );

    const seen = await invoke(currentHandler, eventFrom("limitsCurrent", { token: mallory.token }));
    expect(seen.body.daily_used).toBe(0);
    const release = await invoke(
      releaseHandler,
      eventFrom("limitsRelease", { token: mallory.token, body: { request_id: "alice-1" } }),
    );
    expect(release.status).toBe(404);
    const replay = await invoke(
      consumeHandler,
      consumeEvent(mallory.token, { action: "deep_upgrade", request_id: "alice-1" }),
    );
    expect(replay.body).toMatchObject({ replayed: false, charged: 5 });

    const aliceNow = await invoke(currentHandler, eventFrom("limitsCurrent", { token: alice.token }));
    expect(aliceNow.body).toMatchObject({ daily_used: 5, monthly_used: 5 });
    const forged = await invoke(
      currentHandler,
      eventFrom("limitsCurrent", { token: `${alice.token.slice(0, -4)}AAAA` }),
    );
    expect(forged.status).toBe(401);
  });

  it("keeps ids with # apart (no key forging through the user id)", async () => {
    const a = asUser(`test-${crypto.randomUUID()}`, "pro");
    const b = asUser(`${a.id}#QUOTA`, "pro");
    const now = new Date();
    await consumeCredits(b, "deep_upgrade", "k", now);
    expect((await currentLimits(a, now)).daily_used).toBe(0);
  });
});

describe("plan changes", () => {
  it("apply to the next consume even where a warm instance cached the old profile", async () => {
    const u = asUser(`test-${crypto.randomUUID()}`, "pro");
    const now = new Date();
    await consumeCredits(u, "upgrade", "p1", now);
    const stale = await getOrCreateProfile(u, now);
    await setPlan(u.id, "free", { daily_limit: 1 }, now);
    rememberProfile(stale, now); // another instance still holds the pro profile
    await expect(consumeCredits(u, "upgrade", "p2", now)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    const report = await currentLimits(u, now);
    expect(report).toMatchObject({ plan: "free", daily_limit: 1, daily_used: 1 });
  });
});

describe("counters written by other code", () => {
  it("charges a month item that lacks the key ring (an import or a fixture)", async () => {
    const u = asUser(`test-${crypto.randomUUID()}`, "pro");
    const now = new Date();
    const month = localMonth(now, "UTC");
    const day = `d${now.toISOString().slice(8, 10)}`;
    await db.send(
      new PutCommand({ TableName: TABLE, Item: { ...keys.quotaMonth(u.id, month), m: 7, [day]: 3 } }),
    );
    const res = await consumeCredits(u, "upgrade", "imp", now);
    expect(res).toMatchObject({ charged: 1, daily_remaining: 496, monthly_remaining: 14992 });
    expect((await consumeCredits(u, "upgrade", "imp", now)).replayed).toBe(true);
  });
});

describe("profile recreated with a lower revision", () => {
  it("does not lock the counter", async () => {
    const u = asUser(`test-${crypto.randomUUID()}`, "pro");
    const now = new Date();
    await setPlan(u.id, "pro", null, now);
    await setPlan(u.id, "pro", null, now);
    await consumeCredits(u, "upgrade", "r1", now); // the counter remembers revision 2
    await db.send(new DeleteCommand({ TableName: TABLE, Key: keys.userProfile(u.id) }));
    forgetProfile(u.id);
    const res = await consumeCredits(u, "upgrade", "r2", now);
    expect(res).toMatchObject({ replayed: false, daily_remaining: 498 });
    counter.reset();
    await consumeCredits(u, "upgrade", "r3", now);
    expect(counter.total()).toBe(1);
  });
});

describe("DynamoDB requests per operation", () => {
  it("is 1 for current, check and a consume (profile cached by the instance)", async () => {
    const u = asUser(`test-${crypto.randomUUID()}`, "pro");
    const now = new Date();
    await currentLimits(u, now); // first use creates the profile
    counter.reset();
    await currentLimits(u, now);
    expect(counter.total()).toBe(1);
    counter.reset();
    await checkLimits(u, { action: "upgrade" }, now);
    expect(counter.total()).toBe(1);
    counter.reset();
    await consumeCredits(u, "upgrade", "n1", now); // first charge of the month creates the item
    counter.reset();
    await consumeCredits(u, "upgrade", "n2", now);
    expect(counter.total()).toBe(1);
    counter.reset();
    await consumeCredits(u, "upgrade", "n2", now);
    expect(counter.total()).toBe(2); // a replay: the failed write and one read
  });
});
