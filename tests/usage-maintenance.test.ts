import { DeleteCommand } from "@aws-sdk/lib-dynamodb";
import { beforeEach, describe, expect, it } from "vitest";
import { db, TABLE } from "#lib/db/client";
import { keys } from "#lib/db/keys";
import { startOfLocalDay } from "#lib/time";
import { getAnalytics } from "#lib/usage/analytics";
import { checkEvent } from "#lib/usage/event";
import { trackUsage } from "#lib/usage/ingest";
import { DEDUPE_RETENTION_DAYS, dropExpiredDedupeSets } from "#lib/usage/maintenance";
import { handler } from "../functions/usage-maintenance.ts";
import { loadEvent } from "./helpers.ts";
import { rollupsOf, setTimeZone, usageEvent } from "./usage-fixtures.ts";

// Dates far from the other suites' (which use today or 2026), so their rollups are not in these days.
const at = (iso: string, i: number) => usageEvent(i, { prefix: "m", over: { timestamp: iso } });

describe("usage maintenance: dropping old dedupe sets", () => {
  beforeEach(async () => {
    await db.send(new DeleteCommand({ TableName: TABLE, Key: keys.usageMaintenanceCheckpoint() }));
  });

  it("drops the sets of days past the window, keeps the counts, resumes from its checkpoint", async () => {
    const user = await freshId();
    const who = { id: user, roles: [] };
    await trackUsage(
      who,
      [at("2025-01-10T10:00:00Z", 1), at("2025-01-10T11:00:00Z", 2)],
      new Date("2025-01-12T23:00:00Z"),
    );
    await trackUsage(who, [at("2025-01-11T10:00:00Z", 3)], new Date("2025-01-12T23:00:00Z"));
    await trackUsage(who, [at("2025-01-12T10:00:00Z", 4)], new Date("2025-01-12T23:00:00Z"));
    const before = await getAnalytics(who, "90d", new Date("2025-02-17T01:00:00Z"));

    // 2025-02-17 - 37 days = 2025-01-11: the sets of 01-10 and 01-11 go, 01-12's stays.
    const first = await dropExpiredDedupeSets(new Date("2025-02-17T00:30:00Z"));
    expect(first.done_through).toBe("2025-01-11");
    expect(first.days.at(-1)).toBe("2025-01-11");
    expect(first.dropped).toBeGreaterThanOrEqual(2);
    const rollups = await rollupsOf(user);
    expect(rollups["2025-01-10"]).not.toHaveProperty("ids");
    expect(rollups["2025-01-10"]).toMatchObject({ n: 2 });
    expect(rollups["2025-01-11"]).not.toHaveProperty("ids");
    expect(rollups["2025-01-12"]?.ids).toBeInstanceOf(Set);

    // Twice is the same as once.
    const again = await dropExpiredDedupeSets(new Date("2025-02-17T00:45:00Z"));
    expect(again).toEqual({ days: [], dropped: 0, done_through: "2025-01-11", stopped_early: false });

    // The next night takes the next day.
    const next = await dropExpiredDedupeSets(new Date("2025-02-18T00:30:00Z"));
    expect(next.days).toEqual(["2025-01-12"]);
    expect((await rollupsOf(user))["2025-01-12"]).not.toHaveProperty("ids");

    // Analytics reads the same counts without the sets.
    const after = await getAnalytics(who, "90d", new Date("2025-02-17T01:00:00Z"));
    expect({ ...after, generated_at: "" }).toEqual({ ...before, generated_at: "" });
  });

  it("stops at its deadline without moving the checkpoint", async () => {
    const summary = await dropExpiredDedupeSets(new Date("2025-03-01T00:30:00Z"), Date.now() - 1);
    expect(summary).toEqual({ days: [], dropped: 0, done_through: null, stopped_early: true });
  });

  it("only drops a day once no event of that day can be accepted, in any timezone", async () => {
    for (const timeZone of ["Etc/GMT+12", "Pacific/Kiritimati", "UTC", "America/Los_Angeles"]) {
      const day = "2025-01-11";
      const lastInstant = startOfLocalDay("2025-01-12", timeZone).getTime() - 1;
      // The first run that may drop `day` runs at UTC midnight of day + DEDUPE_RETENTION_DAYS.
      const firstDropRun = new Date(Date.parse(`${day}T00:00:00Z`) + DEDUPE_RETENTION_DAYS * 86_400_000);
      const check = checkEvent(at(new Date(lastInstant).toISOString(), 1), firstDropRun);
      expect(check).toMatchObject({ ok: false, reason: "timestamp: older than 35 days" });
    }
  });

  it("runs as the scheduled function with the sample schedule event", async () => {
    const result = await handler(loadEvent("usageMaintenance") as never, {
      getRemainingTimeInMillis: () => 60_000,
    });
    expect(result).toMatchObject({ stopped_early: false, done_through: expect.any(String) });
  });

  it("keeps a user's timezone days: a set is dropped by the rollup's own day", async () => {
    const user = await freshId();
    await setTimeZone(user, "Pacific/Kiritimati");
    // 2025-01-20T11:00Z is 2025-01-21 01:00 in Kiritimati (UTC+14).
    await trackUsage(
      { id: user, roles: [] },
      [at("2025-01-20T11:00:00Z", 9)],
      new Date("2025-01-21T00:00:00Z"),
    );
    expect(Object.keys(await rollupsOf(user))).toEqual(["2025-01-21"]);
    await dropExpiredDedupeSets(new Date("2025-02-26T00:30:00Z")); // cutoff 2025-01-20
    expect((await rollupsOf(user))["2025-01-21"]?.ids).toBeInstanceOf(Set);
    await dropExpiredDedupeSets(new Date("2025-02-27T00:30:00Z")); // cutoff 2025-01-21
    expect((await rollupsOf(user))["2025-01-21"]).not.toHaveProperty("ids");
  });
});

async function freshId(): Promise<string> {
  return `test-${crypto.randomUUID()}`;
}
