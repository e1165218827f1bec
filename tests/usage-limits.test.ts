import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import type { HttpHandler } from "#lib/http";
import { eventFrom, freshUser, invoke } from "./helpers.ts";

/** lib/ reads its limits at import: this file sets a small sync rate before loading it. */
let bulkTrack: HttpHandler;
let MAX_EVENTS_PER_DAY: number;

beforeAll(async () => {
  process.env.USAGE_SYNCS_PER_MINUTE = "3";
  const { vi } = await import("vitest");
  vi.resetModules();
  bulkTrack = (await import("../functions/usage-bulk-track.ts")).handler;
  MAX_EVENTS_PER_DAY = (await import("#lib/usage/event")).MAX_EVENTS_PER_DAY;
});

const event = (id: string, at = new Date()) => ({
  id,
  type: "upgrade",
  timestamp: at.toISOString(),
  domain: "claude.ai",
  technique: "step_back",
  success: true,
  improvement_score: 6,
  credits: 1,
});

describe("bulk-track limits", () => {
  it("bounds each user's syncs per minute with 429 and Retry-After, per user", async () => {
    const u = await freshUser();
    const other = await freshUser();
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof invoke>> | undefined;
    for (let i = 0; i < 5; i++) {
      const res = await invoke(
        bulkTrack,
        eventFrom("usageBulkTrack", { token: u.token, body: [event(`e-${i}`)] }),
      );
      statuses.push(res.status);
      if (res.status === 429) refused ??= res;
    }
    // A minute boundary may fall inside the loop and open a new window: at least 3 pass, and a 4th
    // and 5th in the same window are refused.
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(3);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(4);
    expect(refused?.headers["Retry-After"]).toMatch(/^\d+$/);
    expect(refused?.body).toMatchObject({
      code: "RATE_LIMITED",
      detail: expect.stringContaining("3 syncs a minute"),
    });
    const res = await invoke(
      bulkTrack,
      eventFrom("usageBulkTrack", { token: other.token, body: [event("e-0")] }),
    );
    expect(res.status).toBe(200);
  });

  it("rejects events past the per-day cap one by one, before the rollup could outgrow an item", async () => {
    const u = await freshUser();
    const { db, TABLE } = await import("#lib/db/client");
    const { keys } = await import("#lib/db/keys");
    const { localDate } = await import("#lib/time");
    const today = localDate(new Date(), "UTC");
    const full = new Set(
      Array.from({ length: MAX_EVENTS_PER_DAY }, (_, i) => `h${String(i).padStart(10, "0")}`),
    );
    await db.send(
      new PutCommand({ TableName: TABLE, Item: { ...keys.usageRollup(u.id, today), ids: full } }),
    );
    const yesterday = new Date(Date.now() - 86_400_000);
    const res = await invoke(
      bulkTrack,
      eventFrom("usageBulkTrack", { token: u.token, body: [event("late-1"), event("late-2", yesterday)] }),
    );
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([
      { index: 0, id: "late-1", status: "rejected", reason: expect.stringMatching(/^day_full/) },
      { index: 1, id: "late-2", status: "accepted" },
    ]);
  });
});
