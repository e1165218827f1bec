import { describe, expect, it } from "vitest";
import type { AuthUser } from "#lib/auth";
import { updateProfile } from "#lib/profile";
import { consumeCredits, currentLimits } from "#lib/quotas";

/**
 * The windows reset exactly at the user's local boundary, with no job: the last millisecond of
 * a day (or month) still counts against it, the first millisecond of the next starts at zero.
 */
async function userIn(timezone: string, overrides: { daily_limit?: number; monthly_limit?: number }) {
  const user: AuthUser = { id: `test-${crypto.randomUUID()}`, plan: "pro", roles: [] };
  await updateProfile(user.id, { plan: "pro", timezone, overrides });
  return user;
}

async function expectBoundary(
  timezone: string,
  boundary: string,
  overrides: { daily_limit?: number; monthly_limit?: number },
  reason: "daily_limit_reached" | "monthly_limit_reached",
) {
  const user = await userIn(timezone, overrides);
  const at = new Date(boundary);
  const lastMs = new Date(at.getTime() - 1);
  const limit = reason === "daily_limit_reached" ? overrides.daily_limit : overrides.monthly_limit;
  for (let i = 0; i < (limit ?? 0); i++) await consumeCredits(user, "upgrade", `b-${i}`, lastMs);

  const refused = await consumeCredits(user, "upgrade", "over", lastMs).catch((e) => e);
  expect(refused).toMatchObject({ code: "QUOTA_EXCEEDED", headers: { "Retry-After": "1" } });
  expect(refused.extra).toMatchObject({ allowed: false, reason, resets_at: at.toISOString() });

  const before = await currentLimits(user, lastMs);
  expect(before.remaining_credits).toBe(0);
  const after = await currentLimits(user, at);
  expect(after.daily_used).toBe(0);
  if (reason === "monthly_limit_reached") expect(after.monthly_used).toBe(0);

  const admitted = await consumeCredits(user, "upgrade", "next", at);
  expect(admitted).toMatchObject({ allowed: true, replayed: false, charged: 1 });
  expect((await currentLimits(user, at)).daily_used).toBe(1);
}

describe("window boundaries", () => {
  it("resets the day at UTC midnight", () =>
    expectBoundary("UTC", "2026-11-18T00:00:00.000Z", { daily_limit: 3 }, "daily_limit_reached"));

  it("resets the day at local midnight in Tokyo (15:00 UTC)", () =>
    expectBoundary("Asia/Tokyo", "2026-11-18T15:00:00.000Z", { daily_limit: 2 }, "daily_limit_reached"));

  it("resets after the 23-hour DST day in New York", () =>
    expectBoundary(
      "America/New_York",
      "2026-03-09T04:00:00.000Z",
      { daily_limit: 2 },
      "daily_limit_reached",
    ));

  it("resets after the 25-hour DST day in New York", () =>
    expectBoundary(
      "America/New_York",
      "2026-11-02T05:00:00.000Z",
      { daily_limit: 2 },
      "daily_limit_reached",
    ));

  it("resets where DST skips midnight (Santiago: the day starts at 01:00)", () =>
    expectBoundary(
      "America/Santiago",
      "2026-09-06T04:00:00.000Z",
      { daily_limit: 2 },
      "daily_limit_reached",
    ));

  it("resets the month at the year's end", () =>
    expectBoundary(
      "UTC",
      "2027-01-01T00:00:00.000Z",
      { daily_limit: 50, monthly_limit: 3 },
      "monthly_limit_reached",
    ));

  it("resets the month after a leap day, in local time (Kolkata)", () =>
    expectBoundary(
      "Asia/Kolkata",
      "2028-02-29T18:30:00.000Z",
      { daily_limit: 50, monthly_limit: 2 },
      "monthly_limit_reached",
    ));

  it("counts a leap day as its own day", async () => {
    const user = await userIn("UTC", { daily_limit: 1 });
    await consumeCredits(user, "upgrade", "feb28", new Date("2028-02-28T12:00:00.000Z"));
    const leap = await consumeCredits(user, "upgrade", "feb29", new Date("2028-02-29T00:00:00.000Z"));
    expect(leap).toMatchObject({ allowed: true, daily_remaining: 0, monthly_remaining: 14998 });
    const report = await currentLimits(user, new Date("2028-02-29T23:59:59.999Z"));
    expect(report).toMatchObject({
      daily_used: 1,
      monthly_used: 2,
      resets_at: "2028-03-01T00:00:00.000Z",
      monthly_resets_at: "2028-03-01T00:00:00.000Z",
    });
  });
});
