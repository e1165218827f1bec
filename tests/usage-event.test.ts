import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkEvent, normalizeDomain } from "#lib/usage/event";
import { idHash, MAX_IDS_PER_UPDATE, rollupUpdate } from "#lib/usage/rollup";
import { usageEvent } from "./usage-fixtures.ts";

describe("normalizeDomain", () => {
  it.each([
    ["chatgpt.com", "chatgpt.com"],
    ["Claude.AI", "claude.ai"],
    ["https://chatgpt.com/c/6751?model=gpt#frag", "chatgpt.com"],
    ["HTTP://User:Secret@Gemini.Google.com:8443/app?q=prompt", "gemini.google.com"],
    ["perplexity.ai:443/search?q=x", "perplexity.ai"],
    ["  example.com.  ", "example.com"],
    ["localhost:3000", "localhost"],
    ["127.0.0.1:8080/x", "127.0.0.1"],
    ["https://[2001:db8::1]:443/", "[2001:db8::1]"],
    ["bücher.de", "xn--bcher-kva.de"],
  ])("%s → %s", (input, host) => {
    expect(normalizeDomain(input)).toBe(host);
  });

  it.each([
    "",
    "   ",
    "not a host",
    "javascript:alert(1)",
    "chrome://extensions",
    "file:///etc/passwd",
    "mailto:someone@example.com",
    "user@example.com",
    "intranet",
    "-bad-.com",
    "under_score.com",
    "example..com",
    "https://",
    `${"a".repeat(64)}.com`,
    `${"abcdefghi.".repeat(26)}com`,
    "example.com:99999",
  ])("rejects %j", (input) => {
    expect(normalizeDomain(input)).toBeUndefined();
  });

  it("never returns anything but a lower-case host, whatever the input", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.webUrl({ withQueryParameters: true, withFragments: true })),
        (input) => {
          const host = normalizeDomain(input);
          if (host !== undefined) {
            expect(host).toMatch(/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)$/);
            expect(host.length).toBeLessThanOrEqual(253);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("checkEvent", () => {
  const now = new Date("2026-12-03T12:00:00Z");
  const event = (over: Record<string, unknown>) => usageEvent(1, { now: now.getTime(), over });

  it("accepts a valid event and normalises its domain", () => {
    const check = checkEvent(event({ domain: "https://Claude.ai/chat/1" }), now);
    expect(check).toMatchObject({ ok: true, value: { clamped: false, event: { domain: "claude.ai" } } });
  });

  it("refuses an event older than 35 days, accepts one just inside", () => {
    const old = checkEvent(
      event({ timestamp: new Date(now.getTime() - 35 * 86_400_000 - 1).toISOString() }),
      now,
    );
    expect(old).toEqual({ ok: false, id: "e-1", reason: "timestamp: older than 35 days" });
    const inside = checkEvent(
      event({ timestamp: new Date(now.getTime() - 35 * 86_400_000).toISOString() }),
      now,
    );
    expect(inside.ok).toBe(true);
  });

  it("clamps more than 5 minutes ahead to the receive time, leaves 5 minutes alone", () => {
    const far = checkEvent(event({ timestamp: "2026-12-03T12:05:00.001Z" }), now);
    expect(far).toMatchObject({ ok: true, value: { at: now.getTime(), clamped: true } });
    const near = checkEvent(event({ timestamp: "2026-12-03T12:05:00.000Z" }), now);
    expect(near).toMatchObject({
      ok: true,
      value: { at: Date.parse("2026-12-03T12:05:00Z"), clamped: false },
    });
  });

  it("accepts an offset timestamp and refuses one without a zone", () => {
    expect(checkEvent(event({ timestamp: "2026-12-03T13:00:00+02:00" }), now).ok).toBe(true);
    expect(checkEvent(event({ timestamp: "2026-12-03T11:00:00" }), now)).toMatchObject({ ok: false });
  });

  it("never accepts prompt text or unknown fields", () => {
    expect(checkEvent({ ...event({}), prompt: "hello" }, now)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('"prompt"'),
    });
  });
});

describe("rollupUpdate", () => {
  it("puts every id in the condition and all counters in one ADD", () => {
    const now = Date.now();
    const group = Array.from({ length: 3 }, (_, i) => {
      const check = checkEvent(usageEvent(i + 1, { now }), new Date(now));
      if (!check.ok) throw new Error(check.reason);
      return { hash: idHash(check.value.event.id), event: check.value.event };
    });
    const input = rollupUpdate("u1", "2026-12-03", group);
    expect(input.ConditionExpression).toBe(
      "NOT contains(#ids, :h0) AND NOT contains(#ids, :h1) AND NOT contains(#ids, :h2)",
    );
    expect(input.UpdateExpression).toMatch(/^ADD #ids :ids, #a0 :a0, .* SET #g = :g, #gs = :gs$/);
    expect(input.ExpressionAttributeValues?.[":ids"]).toEqual(new Set(group.map((g) => g.hash)));
  });

  it("stays inside DynamoDB's expression limits at the largest group", () => {
    const now = Date.now();
    const group = Array.from({ length: MAX_IDS_PER_UPDATE }, (_, i) => {
      const domain = `${"d".repeat(60)}${i}.${"x".repeat(60)}.example.com`;
      const check = checkEvent(
        usageEvent(i, { now, over: { id: "i".repeat(60) + i, domain } }),
        new Date(now),
      );
      if (!check.ok) throw new Error(check.reason);
      return { hash: idHash(check.value.event.id), event: check.value.event };
    });
    const input = rollupUpdate("u1", "2026-12-03", group);
    const condition = input.ConditionExpression ?? "";
    const update = input.UpdateExpression ?? "";
    expect(condition.length).toBeLessThan(4096);
    expect(update.length).toBeLessThan(4096);
    // NOT + contains per id, AND between ids.
    expect(MAX_IDS_PER_UPDATE * 3 - 1).toBeLessThanOrEqual(300);
  });

  it("hashes ids to 11 url-safe characters, stable and distinct", () => {
    expect(idHash("evt-1")).toMatch(/^[A-Za-z0-9_-]{11}$/);
    expect(idHash("evt-1")).toBe(idHash("evt-1"));
    const hashes = new Set(Array.from({ length: 20_000 }, (_, i) => idHash(`evt-${i}`)));
    expect(hashes.size).toBe(20_000);
  });
});
