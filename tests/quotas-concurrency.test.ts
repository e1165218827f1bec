import { describe, expect, it, vi } from "vitest";

// 1000 requests in flight from one process queue for the client's sockets: give the queue time
// (the default 500 ms connect timeout is meant for one request per Lambda instance).
vi.hoisted(() => {
  process.env.DB_CONNECT_TIMEOUT_MS = "10000";
  process.env.DB_REQUEST_TIMEOUT_MS = "20000";
});

import type { AuthUser } from "#lib/auth";
import { updateProfile } from "#lib/profile";
import { consumeCredits, currentLimits } from "#lib/quotas";

const asUser = (id: string, plan?: string): AuthUser => ({ id, plan, roles: [] });

describe("atomicity under concurrency", () => {
  it("1000 concurrent consumes of 1 credit against 500 remaining admit exactly 500", async () => {
    const u = asUser(`test-${crypto.randomUUID()}`, "pro");
    const now = new Date();
    await currentLimits(u, now);
    const results = await Promise.allSettled(
      Array.from({ length: 1000 }, (_, i) => consumeCredits(u, "upgrade", `c-${i}`, now)),
    );
    const allowed = results.filter((r) => r.status === "fulfilled").length;
    const refused = results.filter(
      (r) => r.status === "rejected" && (r.reason as { code?: string }).code === "QUOTA_EXCEEDED",
    ).length;
    expect(allowed).toBe(500);
    expect(refused).toBe(500);
    const report = await currentLimits(u, now);
    expect(report.daily_used).toBe(500);
    expect(report.monthly_used).toBe(500);
  }, 60_000);

  it("mixed costs never exceed either window, and the counters equal what was admitted", async () => {
    for (const overrides of [
      { daily_limit: 97, monthly_limit: 1000 },
      { daily_limit: 1000, monthly_limit: 83 },
    ]) {
      const u = asUser(`test-${crypto.randomUUID()}`, "pro");
      await updateProfile(u.id, { plan: "pro", overrides });
      const now = new Date();
      const actions = ["upgrade", "rewrite", "deep_upgrade"] as const;
      const results = await Promise.allSettled(
        Array.from({ length: 200 }, (_, i) => consumeCredits(u, actions[i % 3] ?? "upgrade", `m-${i}`, now)),
      );
      const charged = results
        .filter(
          (r): r is PromiseFulfilledResult<Awaited<ReturnType<typeof consumeCredits>>> =>
            r.status === "fulfilled",
        )
        .reduce((sum, r) => sum + r.value.charged, 0);
      const limit = Math.min(overrides.daily_limit, overrides.monthly_limit);
      expect(charged).toBeLessThanOrEqual(limit);
      expect(charged).toBeGreaterThan(limit - 5);
      const report = await currentLimits(u, now);
      expect(report.daily_used).toBe(charged);
      expect(report.monthly_used).toBe(charged);
    }
  }, 60_000);
});
