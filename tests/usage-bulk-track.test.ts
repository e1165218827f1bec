import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { afterEach, describe, expect, it, vi } from "vitest";
import { db } from "#lib/db/client";
import { handler } from "../functions/usage-bulk-track.ts";
import { eventFrom, freshUser, invoke } from "./helpers.ts";
import { countedEvents, rawEventsOf, rollupsOf, usageEvent } from "./usage-fixtures.ts";

const sync = (token: string, body: unknown) => invoke(handler, eventFrom("usageBulkTrack", { token, body }));
const batch = (n: number, prefix = "e", from = 0) =>
  Array.from({ length: n }, (_, k) => usageEvent(from + k, { prefix }));

afterEach(() => {
  vi.restoreAllMocks();
});

describe("POST /users/usage/bulk-track: happy path", () => {
  it("accepts a sync, answers each event's outcome and the counts, and stores rollups and raw events", async () => {
    const user = await freshUser();
    const events = batch(40);
    const res = await sync(user.token, events);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      received: 40,
      accepted: 40,
      duplicate: 0,
      rejected: 0,
      clamped: 0,
      results: events.map((e, index) => ({ index, id: e.id, status: "accepted" })),
    });
    expect(await countedEvents(user.id)).toBe(40);
    const raw = await rawEventsOf(user.id);
    expect(raw.size).toBe(40);
    expect(raw.get("e-0")).toMatchObject({
      event_id: "e-0",
      type: "rewrite",
      domain: "chatgpt.com",
      technique: "chain_of_thought",
      success: false,
      credits: 1,
      expires_at: expect.any(Number),
    });
    // 90 days after the event's time.
    const e0 = raw.get("e-0") as { timestamp: string; expires_at: number };
    expect(e0.expires_at).toBe(Math.floor(Date.parse(e0.timestamp) / 1000) + 90 * 86_400);
    expect(raw.get("e-3")?.domain).toBe("perplexity.ai");
  });

  it("takes the `{ events: [...] }` envelope as well", async () => {
    const user = await freshUser();
    const res = await invoke(
      handler,
      eventFrom("usageBulkTrack-envelope", { token: user.token, body: { events: batch(3) } }),
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ received: 3, accepted: 3, duplicate: 0, rejected: 0 });
  });

  it("works with the sample events from events/ (timestamps moved to now)", async () => {
    const user = await freshUser();
    const sample = eventFrom("usageBulkTrack", { token: user.token });
    const events = JSON.parse(sample.body ?? "[]") as { timestamp: string }[];
    for (const e of events) e.timestamp = new Date().toISOString();
    sample.body = JSON.stringify(events);
    const res = await invoke(handler, sample);
    expect(res.body).toMatchObject({ received: 2, accepted: 2, rejected: 0 });
  });

  it("clamps a timestamp more than 5 minutes ahead to the receive time and flags it", async () => {
    const user = await freshUser();
    const ahead = usageEvent(1, { over: { timestamp: new Date(Date.now() + 3_600_000).toISOString() } });
    const slightlyAhead = usageEvent(2, { over: { timestamp: new Date(Date.now() + 60_000).toISOString() } });
    const res = await sync(user.token, [ahead, slightlyAhead]);
    expect(res.body.results).toEqual([
      { index: 0, id: "e-1", status: "accepted", timestamp_clamped: true },
      { index: 1, id: "e-2", status: "accepted" },
    ]);
    expect(res.body.clamped).toBe(1);
    const raw = await rawEventsOf(user.id);
    expect(raw.get("e-1")).toMatchObject({ timestamp_clamped: true, client_timestamp: ahead.timestamp });
    expect(Date.parse(String(raw.get("e-1")?.timestamp))).toBeLessThanOrEqual(Date.now());
  });
});

describe("POST /users/usage/bulk-track: exactly once", () => {
  it("gives the counts of one clean sync when the same batch is synced five times", async () => {
    const clean = await freshUser();
    const retried = await freshUser();
    const events = batch(300);
    await sync(clean.token, events);
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push((await sync(retried.token, events)).body);
    expect(answers[0]).toMatchObject({ accepted: 300, duplicate: 0 });
    for (const later of answers.slice(1))
      expect(later).toMatchObject({ accepted: 0, duplicate: 300, rejected: 0 });
    expect(await rollupsOf(retried.id)).toEqual(await rollupsOf(clean.id));
    expect((await rawEventsOf(retried.id)).size).toBe(300);
  });

  it("answers a retried sync from one read per day, rewriting nothing but the rate counter", async () => {
    const user = await freshUser();
    const events = batch(300);
    await sync(user.token, events);
    const send = db.send.bind(db);
    const sent: string[] = [];
    vi.spyOn(db, "send").mockImplementation((async (command: object) => {
      sent.push(command.constructor.name);
      return send(command as never);
    }) as typeof db.send);
    const retry = await sync(user.token, events);
    expect(retry.body).toMatchObject({ accepted: 0, duplicate: 300 });
    // The per-user sync rate counter, the profile, then the set of each (UTC) day the events fall on.
    const days = new Set(events.map((e) => String(e.timestamp).slice(0, 10)));
    expect(sent).toEqual(["UpdateCommand", ...Array(1 + days.size).fill("GetCommand")]);
  });

  it("counts an id sent twice in one sync once", async () => {
    const user = await freshUser();
    const res = await sync(user.token, [usageEvent(1), usageEvent(2), usageEvent(1, { hoursAgo: 30 })]);
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual([
      "accepted",
      "accepted",
      "duplicate",
    ]);
    expect(await countedEvents(user.id)).toBe(2);
  });

  for (const [label, failAt] of [
    ["before any rollup write (raw events written)", 1],
    ["halfway through the rollup writes", 3],
  ] as const) {
    it(`gives the counts of one clean sync when a sync crashes ${label} and is retried`, async () => {
      const clean = await freshUser();
      const crashed = await freshUser();
      // 400 events over 3 days: several rollup groups, so the crash leaves some counted, some not.
      const events = batch(400);
      await sync(clean.token, events);

      const send = db.send.bind(db);
      let updates = 0;
      vi.spyOn(db, "send").mockImplementation((async (command: unknown) => {
        if (command instanceof UpdateCommand && ++updates >= failAt) throw new Error("simulated crash");
        return send(command as never);
      }) as typeof db.send);
      const first = await sync(crashed.token, events);
      expect(first.status).toBe(500);
      vi.restoreAllMocks();
      // Writes already in flight when the process "died" land (or not) on their own.
      await new Promise((r) => setTimeout(r, 300));
      if (failAt > 1) expect(await countedEvents(crashed.id)).toBeGreaterThan(0);
      expect(await countedEvents(crashed.id)).toBeLessThan(400);

      const retry = await sync(crashed.token, events);
      expect(retry.status).toBe(200);
      expect(retry.body.accepted + retry.body.duplicate).toBe(400);
      const again = await sync(crashed.token, events);
      expect(again.body).toMatchObject({ accepted: 0, duplicate: 400 });
      expect(await rollupsOf(crashed.id)).toEqual(await rollupsOf(clean.id));
      expect((await rawEventsOf(crashed.id)).size).toBe(400);
    });
  }

  it("ends exactly like one clean sync whichever request of the sync crashes, once retried", async () => {
    const events = batch(200);
    const clean = await freshUser();
    await sync(clean.token, events);
    const expected = await rollupsOf(clean.id);
    const send = db.send.bind(db);
    // 1 profile read + 3 or 4 set reads (one per day) + 8 BatchWriteItem + 4 or 5 rollup
    // UpdateItem: crash at each of them in turn.
    for (let crashAt = 1; crashAt <= 18; crashAt++) {
      const user = await freshUser();
      let calls = 0;
      vi.spyOn(db, "send").mockImplementation((async (command: unknown) => {
        if (++calls === crashAt) throw new Error("simulated crash");
        return send(command as never);
      }) as typeof db.send);
      await sync(user.token, events);
      vi.restoreAllMocks();
      await new Promise((r) => setTimeout(r, 100));
      const retry = await sync(user.token, events);
      expect(retry.status).toBe(200);
      expect(retry.body.accepted + retry.body.duplicate).toBe(200);
      expect(await rollupsOf(user.id)).toEqual(expected);
      expect((await rawEventsOf(user.id)).size).toBe(200);
    }
  });

  it("counts each of 1000 events from 10 concurrent syncs with overlapping ids once", async () => {
    const user = await freshUser();
    // Sync k sends ids k*50 .. k*50+99: 1000 events, 550 distinct ids, each id in one or two syncs.
    const syncs = Array.from({ length: 10 }, (_, k) => batch(100, "c", k * 50));
    const answers = await Promise.all(syncs.map((events) => sync(user.token, events)));
    for (const a of answers) expect(a.status).toBe(200);
    const accepted = answers.reduce((acc, a) => acc + a.body.accepted, 0);
    const duplicate = answers.reduce((acc, a) => acc + a.body.duplicate, 0);
    expect(accepted).toBe(550);
    expect(duplicate).toBe(450);
    expect(await countedEvents(user.id)).toBe(550);
    // Each id is accepted by exactly one sync.
    const acceptedIds = answers.flatMap((a) =>
      a.body.results
        .filter((r: { status: string }) => r.status === "accepted")
        .map((r: { id: string }) => r.id),
    );
    expect(new Set(acceptedIds).size).toBe(550);

    const clean = await freshUser();
    await sync(clean.token, batch(275, "c"));
    await sync(clean.token, batch(275, "c", 275));
    expect(await rollupsOf(user.id)).toEqual(await rollupsOf(clean.id));
  });
});

describe("POST /users/usage/bulk-track: bad events and limits", () => {
  it("rejects bad events one by one with their reason and keeps the good ones", async () => {
    const user = await freshUser();
    const good = [usageEvent(1), usageEvent(2)];
    const bad = [
      { ...usageEvent(3), prompt: "secret prompt text" },
      { ...usageEvent(4), id: undefined },
      { ...usageEvent(5), id: "x".repeat(65) },
      { ...usageEvent(6), technique: "magic" },
      { ...usageEvent(7), domain: "javascript:alert(1)" },
      { ...usageEvent(8), improvement_score: 11 },
      { ...usageEvent(9), credits: -1 },
      { ...usageEvent(10), timestamp: new Date(Date.now() - 36 * 86_400_000).toISOString() },
      { ...usageEvent(11), timestamp: "yesterday" },
      "not an event",
      null,
    ];
    const res = await sync(user.token, [good[0], ...bad, good[1]]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ received: 13, accepted: 2, duplicate: 0, rejected: 11 });
    const reasons = res.body.results
      .slice(1, 12)
      .map((r: { id: string | null; reason: string }) => [r.id, r.reason]);
    expect(reasons).toEqual([
      ["e-3", expect.stringContaining("prompt")],
      [null, expect.stringMatching(/^id: /)],
      [null, expect.stringMatching(/^id: /)],
      ["e-6", expect.stringMatching(/^technique: /)],
      ["e-7", "domain: must be a host name (example.com) or an http(s) URL"],
      ["e-8", expect.stringMatching(/^improvement_score: /)],
      ["e-9", expect.stringMatching(/^credits: /)],
      ["e-10", "timestamp: older than 35 days"],
      ["e-11", expect.stringMatching(/^timestamp: /)],
      [null, expect.any(String)],
      [null, expect.any(String)],
    ]);
    expect(res.body.results[0]).toEqual({ index: 0, id: "e-1", status: "accepted" });
    expect(res.body.results[12]).toEqual({ index: 12, id: "e-2", status: "accepted" });
    expect(await countedEvents(user.id)).toBe(2);
    const raw = await rawEventsOf(user.id);
    expect([...raw.keys()].sort()).toEqual(["e-1", "e-2"]);
    expect(JSON.stringify([...raw.values()])).not.toContain("secret prompt text");
  });

  it("answers 413 past 500 events, and stores nothing", async () => {
    const user = await freshUser();
    const res = await sync(user.token, batch(501));
    expect(res.status).toBe(413);
    expect(res.body).toEqual({
      detail: "A sync may carry at most 500 events; send the rest in another sync",
      code: "PAYLOAD_TOO_LARGE",
      request_id: expect.any(String),
      max_events: 500,
    });
    expect(await countedEvents(user.id)).toBe(0);
  });

  it("accepts exactly 500 events", async () => {
    const user = await freshUser();
    const res = await sync(user.token, batch(500));
    expect(res.body).toMatchObject({ received: 500, accepted: 500 });
    expect(await countedEvents(user.id)).toBe(500);
  });

  it("answers 413 past 1 MB of body before parsing it", async () => {
    const user = await freshUser();
    const padded = [{ ...usageEvent(1), pad: "x".repeat(1_048_576) }];
    const res = await sync(user.token, padded);
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ code: "PAYLOAD_TOO_LARGE", max_bytes: 1_048_576 });
  });

  it("answers 422 for a body that is neither an array nor an envelope, 400 for bad JSON", async () => {
    const user = await freshUser();
    const notList = await sync(user.token, { event: usageEvent(1) });
    expect(notList.status).toBe(422);
    expect(notList.body.code).toBe("VALIDATION_FAILED");
    const badJson = await invoke(handler, eventFrom("usageBulkTrack", { token: user.token, rawBody: "[{" }));
    expect(badJson.status).toBe(400);
    expect(badJson.body.code).toBe("INVALID_JSON");
  });

  it("accepts an empty sync", async () => {
    const user = await freshUser();
    const res = await sync(user.token, []);
    expect(res.body).toEqual({
      received: 0,
      accepted: 0,
      duplicate: 0,
      rejected: 0,
      clamped: 0,
      results: [],
    });
  });
});

describe("POST /users/usage/bulk-track: security", () => {
  it("answers 401 without a token", async () => {
    const res = await invoke(handler, eventFrom("usageBulkTrack", { token: null, body: batch(1) }));
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ code: "UNAUTHORIZED", detail: "Not authenticated" });
  });

  it("dedupes per user: the same ids from two users are counted for each, separately", async () => {
    const a = await freshUser();
    const b = await freshUser();
    const events = batch(20);
    expect((await sync(a.token, events)).body.accepted).toBe(20);
    expect((await sync(b.token, events)).body.accepted).toBe(20);
    expect(await countedEvents(a.id)).toBe(20);
    expect(await countedEvents(b.id)).toBe(20);
  });
});
