import { DeleteCommand, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { beforeEach, describe, expect, it } from "vitest";
import type { AuthUser } from "#lib/auth";
import { db, TABLE } from "#lib/db/client";
import { keys } from "#lib/db/keys";
import { updateProfile } from "#lib/profile";
import { consumeCredits } from "#lib/quotas";
import { latestClosableDay, runQuotaReset } from "#lib/quotas/reset";
import { handler } from "../functions/quota-reset.ts";

// Each test uses its own months (2030-2031), so the index partitions it reads hold only its users.

async function user(timezone = "UTC"): Promise<AuthUser> {
  const u: AuthUser = { id: `test-${crypto.randomUUID()}`, plan: "pro", roles: [] };
  await updateProfile(u.id, { plan: "pro", timezone });
  return u;
}

async function charge(u: AuthUser, credits: number, at: string) {
  for (let i = 0; i < credits; i++) await consumeCredits(u, "upgrade", undefined, new Date(at));
}

async function get(key: { PK: string; SK: string }) {
  return (await db.send(new GetCommand({ TableName: TABLE, Key: key, ConsistentRead: true }))).Item;
}

describe("quota-reset job", () => {
  beforeEach(async () => {
    await db.send(new DeleteCommand({ TableName: TABLE, Key: keys.quotaResetCheckpoint() }));
  });

  it("closes a day once it has ended everywhere", () => {
    expect(latestClosableDay(new Date("2031-03-03T12:00:00.000Z"))).toBe("2031-03-02");
    expect(latestClosableDay(new Date("2031-03-03T11:59:59.999Z"))).toBe("2031-03-01");
  });

  it("writes a statement per user charged on the closed day, in the user's timezone, and is idempotent", async () => {
    const [utc, tokyo, newYork, before, after] = await Promise.all([
      user(),
      user("Asia/Tokyo"),
      user("America/New_York"),
      user(),
      user(),
    ]);
    await charge(utc, 3, "2031-03-02T10:00:00.000Z");
    await charge(tokyo, 2, "2031-03-02T05:00:00.000Z"); // 14:00 in Tokyo
    await charge(newYork, 1, "2031-03-03T03:00:00.000Z"); // 22:00 on the 2nd in New York
    await charge(before, 1, "2031-03-01T10:00:00.000Z");
    await charge(after, 1, "2031-03-03T10:00:00.000Z");

    const now = new Date("2031-03-03T12:00:00.000Z");
    const first = await runQuotaReset({ now, startAt: "2031-03-02" });
    expect(first).toMatchObject({
      finished: true,
      resumed: false,
      closed_through: "2031-03-02",
      days_closed: ["2031-03-02"],
      users_seen: 4, // the three charged that day, and the one charged after it; never "before"
      day_statements: 3,
      month_statements: 0,
    });
    expect(await get(keys.quotaStatement(utc.id, "DAY#2031-03-02"))).toMatchObject({
      user_id: utc.id,
      window: "day",
      date: "2031-03-02",
      used: 3,
      limit: 500,
      plan: "pro",
      timezone: "UTC",
    });
    expect(await get(keys.quotaStatement(tokyo.id, "DAY#2031-03-02"))).toMatchObject({ used: 2 });
    expect(await get(keys.quotaStatement(newYork.id, "DAY#2031-03-02"))).toMatchObject({ used: 1 });
    expect(await get(keys.quotaStatement(before.id, "DAY#2031-03-02"))).toBeUndefined();
    expect(await get(keys.quotaStatement(after.id, "DAY#2031-03-02"))).toBeUndefined();

    const statement = await get(keys.quotaStatement(utc.id, "DAY#2031-03-02"));
    const again = await runQuotaReset({ now, startAt: "2031-03-02" });
    expect(again).toMatchObject({
      finished: true,
      days_closed: [],
      day_statements: 0,
      closed_through: "2031-03-02",
    });
    expect(await get(keys.quotaStatement(utc.id, "DAY#2031-03-02"))).toEqual(statement);
  });

  it("stops when out of time and resumes from its checkpoint with the same result", async () => {
    const users = await Promise.all(Array.from({ length: 12 }, () => user()));
    for (const [i, u] of users.entries()) await charge(u, 1 + (i % 3), "2031-05-10T08:00:00.000Z");
    const now = new Date("2031-05-11T12:00:00.000Z");

    const partial = await runQuotaReset({ now, startAt: "2031-05-10", pageSize: 2, maxPages: 3 });
    expect(partial.finished).toBe(false);
    expect(partial.closed_through).toBeNull();
    const checkpoint = await get(keys.quotaResetCheckpoint());
    expect(checkpoint?.task).toMatchObject({ day: "2031-05-10", phase: "day" });

    let left = 20;
    let run = await runQuotaReset({ now, pageSize: 2, maxPages: 3 });
    expect(run.resumed).toBe(true);
    while (!run.finished && left-- > 0) run = await runQuotaReset({ now, pageSize: 2, maxPages: 3 });
    expect(run).toMatchObject({ finished: true, closed_through: "2031-05-10" });
    for (const [i, u] of users.entries()) {
      expect(await get(keys.quotaStatement(u.id, "DAY#2031-05-10"))).toMatchObject({ used: 1 + (i % 3) });
    }
  });

  it("budgets by the time left: a run with too little time only saves its place", async () => {
    const now = new Date("2031-06-20T12:00:00.000Z");
    const run = await runQuotaReset({ now, startAt: "2031-06-19", remainingMs: () => 5_000 });
    expect(run).toMatchObject({ finished: false, pages: 0 });
    expect((await get(keys.quotaResetCheckpoint()))?.task).toMatchObject({ day: "2031-06-19", shard: 0 });
  });

  it("closes the month after its last day and deletes counters past retention", async () => {
    const [july, lastDay, old] = await Promise.all([user(), user("Europe/Berlin"), user()]);
    await charge(july, 2, "2031-07-05T10:00:00.000Z");
    await charge(july, 1, "2031-07-20T10:00:00.000Z");
    await charge(lastDay, 4, "2031-07-31T21:00:00.000Z"); // 23:00 in Berlin
    await charge(old, 5, "2030-06-15T10:00:00.000Z");
    const oldStatement = keys.quotaStatement(old.id, "DAY#2030-06-15");
    await db.send(new PutCommand({ TableName: TABLE, Item: { ...oldStatement, used: 5 } }));

    const now = new Date("2031-08-01T12:00:00.000Z");
    const run = await runQuotaReset({ now, startAt: "2031-07-31", retentionMonths: 13 });
    expect(run).toMatchObject({
      finished: true,
      days_closed: ["2031-07-31"],
      months_closed: ["2031-07"],
      months_purged: ["2030-06"],
      day_statements: 1,
      month_statements: 2,
      counters_deleted: 1,
      statements_deleted: 1,
      closed_through: "2031-07-31",
    });
    expect(await get(keys.quotaStatement(july.id, "MONTH#2031-07"))).toMatchObject({
      window: "month",
      month: "2031-07",
      used: 3,
      limit: 15000,
      days: { "2031-07-05": 2, "2031-07-20": 1 },
    });
    expect(await get(keys.quotaStatement(lastDay.id, "DAY#2031-07-31"))).toMatchObject({ used: 4 });
    expect(await get(keys.quotaMonth(old.id, "2030-06"))).toBeUndefined();
    expect(await get(oldStatement)).toBeUndefined();
    expect(await get(keys.quotaMonth(july.id, "2031-07"))).toMatchObject({ m: 3 });
  });

  it("runs as the scheduled function with the sample event", async () => {
    const event = JSON.parse(
      (await import("node:fs")).readFileSync(new URL("../events/quotaReset.json", import.meta.url), "utf8"),
    );
    const summary = await handler(event, { getRemainingTimeInMillis: () => 290_000 });
    expect(summary).toMatchObject({ finished: true, closed_through: latestClosableDay(new Date()) });
  });
});
