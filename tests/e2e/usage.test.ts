import { describe, expect, inject, it } from "vitest";
import type { Analytics } from "#lib/usage/analytics";
import { freshUser } from "../helpers.ts";
import { usageEvent } from "../usage-fixtures.ts";
import { validateEveryResponse } from "./contract.ts";

validateEveryResponse();
const base = inject("baseUrl");

const post = (path: string, token: string, body: unknown) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

describe("e2e: usage over real HTTP (serverless offline)", () => {
  it("syncs a batch twice (accepted, then duplicate) and shows it in GET and POST analytics", async () => {
    const user = await freshUser("pro");
    const events = Array.from({ length: 30 }, (_, i) => usageEvent(i, { hoursAgo: 0 }));
    const first = await post("/users/usage/bulk-track", user.token, events);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ received: 30, accepted: 30, duplicate: 0, rejected: 0 });
    const retry = await post("/users/usage/bulk-track", user.token, { events });
    expect(await retry.json()).toMatchObject({ received: 30, accepted: 0, duplicate: 30 });

    const get = await fetch(`${base}/users/usage/analytics?period=7d`, {
      headers: { authorization: `Bearer ${user.token}` },
    });
    expect(get.status).toBe(200);
    const analytics = (await get.json()) as Analytics;
    expect(analytics.daily_upgrades).toHaveLength(7);
    expect(analytics.daily_upgrades.at(-1)).toMatchObject({ count: 30, partial: true });
    expect(analytics.totals.upgrades).toBe(30);

    const viaPost = await post("/users/usage/analytics", user.token, { period: "24h" });
    expect(viaPost.status).toBe(200);
    expect(((await viaPost.json()) as Analytics).daily_upgrades).toEqual([
      expect.objectContaining({ count: 30, partial: true }),
    ]);
  });

  it("answers 413 past 500 events and 401 without a token", async () => {
    const user = await freshUser();
    const tooMany = Array.from({ length: 501 }, (_, i) => usageEvent(i));
    const res = await post("/users/usage/bulk-track", user.token, tooMany);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: "PAYLOAD_TOO_LARGE", max_events: 500 });
    const anonymous = await fetch(`${base}/users/usage/analytics`);
    expect(anonymous.status).toBe(401);
  });
});
