import { describe, expect, it } from "vitest";
import { consumeRateLimit, rateLimitedError, windowStartOf } from "#lib/rate-limit";

const rule = (limit: number, windowSeconds = 60) => ({ scope: "test-rate-limit", limit, windowSeconds });
const freshId = () => `id-${crypto.randomUUID()}`;

describe("consumeRateLimit", () => {
  it("allows up to the limit in a window, then refuses with the seconds until the window ends", async () => {
    const id = freshId();
    const now = new Date("2026-12-03T12:00:15.250Z");
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await consumeRateLimit(rule(3), id, now));
    expect(results.map((r) => [r.allowed, r.used])).toEqual([
      [true, 1],
      [true, 2],
      [true, 3],
      [false, 3],
    ]);
    expect(results[3]).toMatchObject({
      limit: 3,
      windowStart: new Date("2026-12-03T12:00:00Z"),
      resetAt: new Date("2026-12-03T12:01:00Z"),
      retryAfterSeconds: 45,
    });
  });

  it("starts again in the next window (a new key, no reset job)", async () => {
    const id = freshId();
    const t0 = new Date("2026-12-03T12:00:59.900Z");
    expect((await consumeRateLimit(rule(1), id, t0)).allowed).toBe(true);
    expect((await consumeRateLimit(rule(1), id, t0)).allowed).toBe(false);
    const t1 = new Date("2026-12-03T12:01:00.000Z");
    expect(await consumeRateLimit(rule(1), id, t1)).toMatchObject({ allowed: true, used: 1 });
  });

  it("never lets concurrent callers past the limit", async () => {
    const id = freshId();
    const now = new Date("2026-12-03T12:00:00Z");
    const results = await Promise.all(Array.from({ length: 100 }, () => consumeRateLimit(rule(30), id, now)));
    expect(results.filter((r) => r.allowed)).toHaveLength(30);
    expect(Math.max(...results.map((r) => r.used))).toBe(30);
  });

  it("takes a cost of several units only when all of them fit", async () => {
    const id = freshId();
    const now = new Date("2026-12-03T12:00:00Z");
    expect(await consumeRateLimit(rule(10), id, now, 7)).toMatchObject({ allowed: true, used: 7 });
    expect(await consumeRateLimit(rule(10), id, now, 4)).toMatchObject({ allowed: false });
    expect(await consumeRateLimit(rule(10), id, now, 3)).toMatchObject({ allowed: true, used: 10 });
    expect(await consumeRateLimit(rule(10), id, now, 11)).toMatchObject({ allowed: false });
  });

  it("keeps scopes and ids apart", async () => {
    const id = freshId();
    const now = new Date("2026-12-03T12:00:00Z");
    expect((await consumeRateLimit(rule(1), id, now)).allowed).toBe(true);
    expect((await consumeRateLimit({ ...rule(1), scope: "other-scope" }, id, now)).allowed).toBe(true);
    expect((await consumeRateLimit(rule(1), freshId(), now)).allowed).toBe(true);
  });
});

describe("windows and errors", () => {
  it("aligns windows to multiples of their length", () => {
    expect(windowStartOf(new Date("2026-12-03T12:34:56Z"), 60)).toBe(
      Date.parse("2026-12-03T12:34:00Z") / 1000,
    );
    expect(windowStartOf(new Date("2026-12-03T12:34:56Z"), 3600)).toBe(
      Date.parse("2026-12-03T12:00:00Z") / 1000,
    );
  });

  it("turns a refusal into a 429 with Retry-After", async () => {
    const id = freshId();
    const now = new Date("2026-12-03T12:00:50Z");
    await consumeRateLimit(rule(1), id, now);
    const error = rateLimitedError(await consumeRateLimit(rule(1), id, now), "Too many");
    expect(error).toMatchObject({
      status: 429,
      code: "RATE_LIMITED",
      message: "Too many",
      headers: { "Retry-After": "10" },
      extra: { limit: 1, retry_after_seconds: 10 },
    });
  });
});
