import { DeleteCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { config } from "#lib/config";
import { db, dynamo, TABLE } from "#lib/db/client";
import { keys } from "#lib/db/keys";
import { cachedFlags, clearFlagCache } from "#lib/flags/cache";
import { changeFlag } from "#lib/flags/store";
import { PLANS } from "#lib/plans";
import { countRequests, type RequestCounter } from "../bench/harness.ts";
import { handler as adminFlags } from "../functions/admin-flags.ts";
import { handler as features } from "../functions/features.ts";
import { handler as ofrepBulk } from "../functions/ofrep-bulk.ts";
import { handler as ofrepFlag } from "../functions/ofrep-flag.ts";
import { commands } from "../scripts/admin/flags.ts";
import { type EventChanges, eventFrom, freshUser, invoke, signDevToken } from "./helpers.ts";

// Every test here reads or changes the global flag definitions, so they all live in this one file
// (vitest runs a file's tests one after another); the built-in flags are restored after each test.

let admin: { id: string; token: string };
let requests: RequestCounter;

beforeAll(async () => {
  admin = await freshUser("pro", ["admin"]);
  requests = countRequests(dynamo);
});

afterEach(async () => {
  vi.restoreAllMocks();
  await forgetStoredFlags();
  clearFlagCache({ plans: true });
});

/** Deletes every stored definition and its history: the table is fresh again (built-ins only). */
async function forgetStoredFlags() {
  const { Items = [] } = await db.send(
    new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: "PK = :pk",
      ExpressionAttributeValues: { ":pk": keys.flagDefinitions() },
      ConsistentRead: true,
    }),
  );
  for (const item of Items) {
    const history = await db.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: "PK = :pk",
        ExpressionAttributeValues: { ":pk": keys.flagHistoryPartition(String(item.key)) },
      }),
    );
    for (const h of history.Items ?? [])
      await db.send(new DeleteCommand({ TableName: TABLE, Key: { PK: h.PK, SK: h.SK } }));
    await db.send(new DeleteCommand({ TableName: TABLE, Key: { PK: item.PK, SK: item.SK } }));
  }
}

/** An admin sample event aimed at another flag key, with the admin's token unless one is given. */
function adminEvent(name: string, key: string, changes: EventChanges = {}) {
  const event = eventFrom(name, { token: admin.token, ...changes });
  const sample = event.pathParameters?.key ?? "";
  event.pathParameters = { key };
  event.rawPath = event.rawPath.replace(sample, key);
  event.requestContext.http.path = event.rawPath;
  return event;
}

/** The sample single-flag OFREP event for a key. */
function ofrepFlagEvent(key: string, changes: EventChanges = {}) {
  const event = eventFrom("ofrepFlag", changes);
  event.pathParameters = { key };
  event.rawPath = `/ofrep/v1/evaluate/flags/${key}`;
  return event;
}

/** Runs an admin command in-process as `npm run admin -- flags ...` would, returning what it printed. */
async function cli(name: string, ...args: string[]): Promise<string> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
  try {
    await commands[name]?.run(args);
  } finally {
    spy.mockRestore();
  }
  return lines.join("\n");
}

describe("GET /users/features", () => {
  it("answers the seed's shape from the plan for a fresh table", async () => {
    for (const plan of ["free", "pro"] as const) {
      const user = await freshUser(plan);
      const res = await invoke(features, eventFrom("features", { token: user.token }));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        realtime_upgrades: PLANS[plan].features.realtime_upgrades,
        analytics_dashboard: PLANS[plan].features.analytics_dashboard,
        offline_mode: PLANS[plan].features.offline_mode,
        max_prompt_length: PLANS[plan].max_prompt_length,
        supported_techniques: [...PLANS[plan].techniques],
        ui_theme: "system",
      });
      expect(res.headers.ETag).toMatch(/^"[A-Za-z0-9_-]+"$/);
      expect(res.headers["Cache-Control"]).toBe("private, no-cache");
    }
  });

  it("answers 304 with no body to If-None-Match with the current tag, 200 to an old one", async () => {
    const user = await freshUser("pro");
    const first = await invoke(features, eventFrom("features", { token: user.token }));
    const etag = first.headers.ETag as string;
    const again = await invoke(
      features,
      eventFrom("features", { token: user.token, headers: { "if-none-match": etag } }),
    );
    expect(again).toEqual({ status: 304, headers: expect.objectContaining({ ETag: etag }), body: undefined });
    const old = await invoke(
      features,
      eventFrom("features", { token: user.token, headers: { "if-none-match": '"stale"' } }),
    );
    expect(old.status).toBe(200);
    expect(old.body).toEqual(first.body);
  });

  it("changes the tag when the user's answer changes, and only then", async () => {
    const [free, pro] = [await freshUser("free"), await freshUser("pro")];
    const tagOf = async (user: { token: string }) =>
      (await invoke(features, eventFrom("features", { token: user.token }))).headers.ETag;
    const [freeTag, proTag] = [await tagOf(free), await tagOf(pro)];
    expect(freeTag).not.toBe(proTag);
    // A kill of realtime_upgrades changes pro users' answer, not free users' (already off).
    await invoke(adminFlags, adminEvent("adminFlags-kill", "realtime_upgrades"));
    expect(await tagOf(free)).toBe(freeTag);
    expect(await tagOf(pro)).not.toBe(proTag);
  });

  it("costs no DynamoDB request when warm: definitions and the user's plan come from memory", async () => {
    const user = await freshUser("pro");
    await invoke(features, eventFrom("features", { token: user.token }));
    requests.reset();
    for (let i = 0; i < 20; i++) await invoke(features, eventFrom("features", { token: user.token }));
    expect(requests.total()).toBe(0);
  });

  it("targets by the X-Extension-Version header and refuses a malformed one with 422", async () => {
    await cli("add-rule", "ui_theme", "--id", "new-ui", "--min", "1.4", "--value", "dark");
    const user = await freshUser("free");
    const themeAt = async (version: string) =>
      (
        await invoke(
          features,
          eventFrom("features", { token: user.token, headers: { "x-extension-version": version } }),
        )
      ).body;
    expect((await themeAt("1.4.2")).ui_theme).toBe("dark");
    expect((await themeAt("1.3.9")).ui_theme).toBe("system");
    expect(await themeAt("1.4-beta")).toEqual({
      detail: "Invalid X-Extension-Version header: must be 1 to 4 dot-separated integers, e.g. 1.4.2",
      code: "VALIDATION_FAILED",
      request_id: expect.any(String),
    });
  });

  it("needs a token", async () => {
    const res = await invoke(features, eventFrom("features", { token: null }));
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ code: "UNAUTHORIZED" });
  });
});

describe("kill switch and cache bound", () => {
  it("turns a feature off for everyone at once through the admin command (this process)", async () => {
    const [pro, team] = [await freshUser("pro"), await freshUser("team")];
    await cli("override", "realtime_upgrades", "--user", pro.id, "--value", "true");
    expect(await cli("kill", "realtime_upgrades", "--reason", "engine overload")).toContain('"killed": true');
    for (const user of [pro, team]) {
      const res = await invoke(features, eventFrom("features", { token: user.token }));
      expect(res.body.realtime_upgrades).toBe(false);
    }
    const single = await invoke(ofrepFlag, ofrepFlagEvent("realtime_upgrades", { token: pro.token }));
    expect(single.body).toMatchObject({ value: false, reason: "DISABLED", metadata: { source: "kill" } });
    await cli("unkill", "realtime_upgrades");
    const back = await invoke(features, eventFrom("features", { token: team.token }));
    expect(back.body.realtime_upgrades).toBe(true);
  });

  it("reaches another warm instance no later than FLAGS_CACHE_SECONDS after the change", async () => {
    clearFlagCache();
    const t0 = Date.now();
    const before = await cachedFlags(t0);
    expect(before.get("offline_mode")?.flag.definition.killed).toBe(false);
    // Another process (the admin command, another Lambda) kills the flag: this cache is not told.
    await changeFlag("offline_mode", (f) => ({ ...f?.definition, killed: true }), {
      actor: "test",
      action: "kill",
    });
    const bound = config.FLAGS_CACHE_SECONDS * 1000;
    expect(bound).toBeLessThanOrEqual(15_000);
    requests.reset();
    expect((await cachedFlags(t0 + bound - 1)).get("offline_mode")?.flag.definition.killed).toBe(false);
    expect(requests.total()).toBe(0);
    expect((await cachedFlags(t0 + bound)).get("offline_mode")?.flag.definition.killed).toBe(true);
    expect(Object.fromEntries(requests.byOperation)).toEqual({ Query: 1 });
  });
});

describe("database trouble", () => {
  it("serves the last definitions when a reload fails (a kill is never undone), 503 with none", async () => {
    await cli("kill", "offline_mode");
    const t0 = Date.now();
    expect((await cachedFlags(t0)).get("offline_mode")?.flag.definition.killed).toBe(true);
    const outage = Object.assign(new Error("socket timeout"), { name: "TimeoutError" });
    const send = vi.spyOn(db, "send").mockRejectedValue(outage as never);
    const later = t0 + config.FLAGS_CACHE_SECONDS * 1000 + 1;
    expect((await cachedFlags(later)).get("offline_mode")?.flag.definition.killed).toBe(true);
    clearFlagCache({ plans: true });
    const user = await freshUser("pro");
    const res = await invoke(features, eventFrom("features", { token: user.token }));
    expect(res).toMatchObject({
      status: 503,
      headers: { "Retry-After": "2" },
      body: { code: "UNAVAILABLE" },
    });
    send.mockRestore();
  });
});

describe("percentage rollout through the admin command", () => {
  it("keeps every user of 10 % at 30 % and serves SPLIT", async () => {
    const ids = Array.from({ length: 300 }, (_, i) => `rollout-user-${i}`);
    const tokens = await Promise.all(ids.map((id) => freshUserWithId(id)));
    const enabled = async () => {
      const on = new Set<string>();
      for (const [i, token] of tokens.entries()) {
        const res = await invoke(ofrepFlag, ofrepFlagEvent("ui_theme", { token }));
        if (res.body.reason === "SPLIT") on.add(ids[i] as string);
      }
      return on;
    };
    await cli("set-rollout", "ui_theme", "10", "--value", "dark");
    const at10 = await enabled();
    await cli("set-rollout", "ui_theme", "30");
    const at30 = await enabled();
    expect([...at10].every((id) => at30.has(id))).toBe(true);
    expect(at10.size).toBeGreaterThan(10);
    expect(at30.size).toBeGreaterThan(at10.size);
  });
});

/** A token for a chosen user id (ids the rollout test can list). */
function freshUserWithId(id: string): Promise<string> {
  return signDevToken({ sub: `${id}-${crypto.randomUUID()}`, plan: "free" });
}

describe("admin routes", () => {
  it("lists every flag with its version and source", async () => {
    const res = await invoke(adminFlags, eventFrom("adminFlags", { token: admin.token }));
    expect(res.status).toBe(200);
    expect(res.body.flags.slice(0, 4).map((f: { key: string }) => f.key)).toEqual([
      "realtime_upgrades",
      "analytics_dashboard",
      "offline_mode",
      "ui_theme",
    ]);
    expect(res.body.flags[0]).toMatchObject({ key: "realtime_upgrades", version: 0, source: "built-in" });
  });

  it("versions every change, keeps history and rolls back", async () => {
    const put = await invoke(
      adminFlags,
      adminEvent("adminFlags-put", "ui_theme", { body: { default: "light", expected_version: 0 } }),
    );
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ key: "ui_theme", version: 1, source: "stored", updated_by: admin.id });
    await invoke(adminFlags, adminEvent("adminFlags-kill", "ui_theme", { body: { reason: "bad theme" } }));
    const user = await freshUser("free");
    expect((await invoke(features, eventFrom("features", { token: user.token }))).body.ui_theme).toBe(
      "light",
    );

    const history = await invoke(adminFlags, adminEvent("adminFlags-history", "ui_theme"));
    expect(
      history.body.history.map((e: { version: number; action: string }) => [e.version, e.action]),
    ).toEqual([
      [2, "kill"],
      [1, "update"],
      [0, "built-in"],
    ]);
    expect(history.body.history[0]).toMatchObject({ actor: admin.id, note: "bad theme" });

    const back = await invoke(
      adminFlags,
      adminEvent("adminFlags-rollback", "ui_theme", { body: { version: 1 } }),
    );
    expect(back.body).toMatchObject({ version: 3, definition: { default: "light", killed: false } });
    const after = await invoke(features, eventFrom("features", { token: user.token }));
    expect(after.body.ui_theme).toBe("light");
    expect(await cli("history", "ui_theme")).toMatch(
      /^v3 .* rollback \(to version 1\)\nv2 .* kill \(bad theme\)/,
    );
  });

  it("refuses a change based on an old version with 409", async () => {
    await invoke(adminFlags, adminEvent("adminFlags-put", "offline_mode", { body: { description: "x" } }));
    const stale = await invoke(
      adminFlags,
      adminEvent("adminFlags-put", "offline_mode", { body: { description: "y", expected_version: 0 } }),
    );
    expect(stale.status).toBe(409);
    expect(stale.body).toEqual({
      detail: "Flag offline_mode is at version 1, not 0; reload and retry",
      code: "CONFLICT",
      request_id: expect.any(String),
      current_version: 1,
    });
  });

  it("keeps concurrent changes: each gets its own version, none is lost", async () => {
    const users = Array.from({ length: 8 }, (_, i) => `support-case-${i}`);
    const results = await Promise.all(
      users.map((id) =>
        invoke(
          adminFlags,
          adminEvent("adminFlags-override", "analytics_dashboard", { body: { user_id: id, value: false } }),
        ),
      ),
    );
    const ok = results.filter((r) => r.status === 200);
    const versions = ok.map((r) => r.body.version).sort((a, b) => a - b);
    expect(new Set(versions).size).toBe(ok.length);
    const current = await invoke(adminFlags, adminEvent("adminFlags-get", "analytics_dashboard"));
    // Conflicts past the retry budget are refused with 409, never applied silently.
    expect(Object.keys(current.body.definition.overrides).sort()).toEqual(
      users.filter((_, i) => results[i]?.status === 200).sort(),
    );
    expect(results.every((r) => r.status === 200 || r.status === 409)).toBe(true);
  });

  it("creates a new flag with PUT, served by OFREP bulk, and refuses a type change", async () => {
    const key = `beta_${crypto.randomUUID().slice(0, 8)}`;
    const missing = await invoke(adminFlags, adminEvent("adminFlags-put", key, { body: { default: 3 } }));
    expect(missing.status).toBe(404);
    const created = await invoke(
      adminFlags,
      adminEvent("adminFlags-put", key, { body: { type: "number", default: 3, description: "batch size" } }),
    );
    expect(created.body).toMatchObject({ key, version: 1, definition: { type: "number", default: 3 } });
    const user = await freshUser("free");
    const bulk = await invoke(ofrepBulk, eventFrom("ofrepBulk", { token: user.token }));
    expect(bulk.body.flags).toContainEqual({
      key,
      value: 3,
      reason: "DEFAULT",
      variant: "3",
      metadata: { source: "default", flag_version: 1 },
    });
    const retype = await invoke(
      adminFlags,
      adminEvent("adminFlags-put", key, { body: { type: "string", default: "3" } }),
    );
    expect(retype.status).toBe(422);
    expect(retype.body.detail).toBe(`Flag ${key} is a number; its type cannot change`);
  });

  it("answers 422 naming the field for a bad definition, 404 for unknown flags and versions", async () => {
    const bad = await invoke(
      adminFlags,
      adminEvent("adminFlags-put", "realtime_upgrades", {
        body: { rollout: { percentage: 10, value: "yes" } },
      }),
    );
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({
      code: "VALIDATION_FAILED",
      detail: "Invalid request: body.rollout.value: must be a boolean",
    });
    const unknown = await invoke(adminFlags, adminEvent("adminFlags-kill", "no_such_flag"));
    expect(unknown).toMatchObject({
      status: 404,
      body: { code: "NOT_FOUND", detail: 'No flag named "no_such_flag"' },
    });
    const noVersion = await invoke(
      adminFlags,
      adminEvent("adminFlags-rollback", "realtime_upgrades", { body: { version: 99 } }),
    );
    expect(noVersion).toMatchObject({
      status: 404,
      body: { detail: "Flag realtime_upgrades has no version 99" },
    });
    const planConfig = await invoke(
      adminFlags,
      adminEvent("adminFlags-put", "max_prompt_length", { body: { type: "number", default: 99_999 } }),
    );
    expect(planConfig).toMatchObject({
      status: 422,
      body: {
        detail:
          "max_prompt_length comes from the plan (lib/plans.ts), not from a flag, so that limits and config agree",
      },
    });
    const badKey = await invoke(
      adminFlags,
      adminEvent("adminFlags-put", "Bad-Key", { body: { type: "boolean", default: true } }),
    );
    expect(badKey.status).toBe(422);
  });

  it("fixes one user's value with an override and clears it", async () => {
    const [user, other] = [await freshUser("free"), await freshUser("free")];
    await invoke(
      adminFlags,
      adminEvent("adminFlags-override", "realtime_upgrades", { body: { user_id: user.id, value: true } }),
    );
    expect(
      (await invoke(features, eventFrom("features", { token: user.token }))).body.realtime_upgrades,
    ).toBe(true);
    expect(
      (await invoke(features, eventFrom("features", { token: other.token }))).body.realtime_upgrades,
    ).toBe(false);
    await invoke(
      adminFlags,
      adminEvent("adminFlags-override", "realtime_upgrades", { body: { user_id: user.id, value: null } }),
    );
    expect(
      (await invoke(features, eventFrom("features", { token: user.token }))).body.realtime_upgrades,
    ).toBe(false);
  });
});

describe("admin command", () => {
  it("lists, sets defaults, adds and removes rules, and reports bad input", async () => {
    await cli("set-default", "ui_theme", "light");
    await cli("add-rule", "ui_theme", "--id", "pros", "--plans", "pro,team", "--value", "dark");
    const listing = await cli("list");
    expect(listing).toContain('ui_theme (string, v2)  default="light"  rules=pros');
    expect(listing).toContain("realtime_upgrades (boolean, v0, built-in)  default=false");
    const pro = await freshUser("pro");
    expect((await invoke(features, eventFrom("features", { token: pro.token }))).body.ui_theme).toBe("dark");
    await cli("remove-rule", "ui_theme", "pros");
    expect((await invoke(features, eventFrom("features", { token: pro.token }))).body.ui_theme).toBe("light");

    await expect(cli("set-default", "realtime_upgrades", "maybe")).rejects.toThrow(
      '"maybe" is not a boolean value',
    );
    await expect(cli("set-rollout", "realtime_upgrades", "150")).rejects.toThrow("from 0 to 100");
    await expect(cli("rollback", "realtime_upgrades", "-1")).rejects.toThrow();
    await expect(cli("kill")).rejects.toThrow("missing <key>");
  });
});

describe("OFREP", () => {
  it("bulk: every flag and the plan config, equal to /users/features, with ETag and 304", async () => {
    const user = await freshUser("pro");
    const res = await invoke(ofrepBulk, eventFrom("ofrepBulk", { token: user.token }));
    expect(res.status).toBe(200);
    const byKey = Object.fromEntries(res.body.flags.map((f: { key: string }) => [f.key, f]));
    expect(byKey.realtime_upgrades).toEqual({
      key: "realtime_upgrades",
      value: true,
      reason: "STATIC",
      variant: "on",
      metadata: { source: "plan", flag_version: 0 },
    });
    expect(byKey.max_prompt_length).toEqual({
      key: "max_prompt_length",
      value: PLANS.pro.max_prompt_length,
      reason: "STATIC",
      variant: "pro",
      metadata: { source: "plan" },
    });
    const mine = (await invoke(features, eventFrom("features", { token: user.token }))).body;
    for (const [key, value] of Object.entries(mine)) expect(byKey[key]?.value).toEqual(value);

    const etag = res.headers.ETag as string;
    const again = await invoke(
      ofrepBulk,
      eventFrom("ofrepBulk", { token: user.token, headers: { "if-none-match": etag } }),
    );
    expect(again).toEqual({ status: 304, headers: expect.objectContaining({ ETag: etag }), body: undefined });
    await cli("kill", "offline_mode");
    const changed = await invoke(
      ofrepBulk,
      eventFrom("ofrepBulk", { token: user.token, headers: { "if-none-match": etag } }),
    );
    expect(changed.status).toBe(200);
    expect(changed.headers.ETag).not.toBe(etag);
  });

  it("single: the protocol's success shape, FLAG_NOT_FOUND as 404", async () => {
    const user = await freshUser("free");
    const res = await invoke(ofrepFlag, ofrepFlagEvent("offline_mode", { token: user.token }));
    expect(res).toMatchObject({ status: 200, headers: { "Content-Type": "application/json" } });
    expect(res.body).toEqual({
      key: "offline_mode",
      value: true,
      reason: "STATIC",
      variant: "on",
      metadata: { source: "plan", flag_version: 0 },
    });
    const techniques = await invoke(ofrepFlag, ofrepFlagEvent("supported_techniques", { token: user.token }));
    expect(techniques.body.value).toEqual(PLANS.free.techniques);
    const missing = await invoke(ofrepFlag, ofrepFlagEvent("nope", { token: user.token }));
    expect(missing).toMatchObject({
      status: 404,
      body: { key: "nope", errorCode: "FLAG_NOT_FOUND", errorDetails: 'No flag named "nope"' },
    });
  });

  it("answers bad requests with 400 and the protocol's error codes", async () => {
    const user = await freshUser("free");
    const cases: [EventChanges, string][] = [
      [{ rawBody: "{not json" }, "PARSE_ERROR"],
      [{ rawBody: "[1, 2]" }, "PARSE_ERROR"],
      [{ body: { context: "pro" } }, "INVALID_CONTEXT"],
      [{ body: { context: { targetingKey: 42 } } }, "INVALID_CONTEXT"],
      [{ body: { context: { targetingKey: "" } } }, "TARGETING_KEY_MISSING"],
      [{ body: { context: { extensionVersion: "v2" } } }, "INVALID_CONTEXT"],
    ];
    for (const [changes, errorCode] of cases) {
      const bulk = await invoke(ofrepBulk, eventFrom("ofrepBulk", { token: user.token, ...changes }));
      expect(bulk).toMatchObject({ status: 400, body: { errorCode, errorDetails: expect.any(String) } });
      expect(bulk.body.key).toBeUndefined();
      const single = await invoke(
        ofrepFlag,
        ofrepFlagEvent("offline_mode", { token: user.token, ...changes }),
      );
      expect(single).toMatchObject({ status: 400, body: { key: "offline_mode", errorCode } });
    }
  });

  it("evaluates for the token's user only: a targetingKey naming someone else is refused", async () => {
    const [user, victim] = [await freshUser("free"), await freshUser("free")];
    await cli("override", "realtime_upgrades", "--user", victim.id, "--value", "true");
    const forged = await invoke(
      ofrepFlag,
      ofrepFlagEvent("realtime_upgrades", {
        token: user.token,
        body: { context: { targetingKey: victim.id } },
      }),
    );
    expect(forged).toMatchObject({ status: 400, body: { errorCode: "INVALID_CONTEXT" } });
    const own = await invoke(
      ofrepFlag,
      ofrepFlagEvent("realtime_upgrades", {
        token: user.token,
        body: { context: { targetingKey: user.id, plan: "team" } },
      }),
    );
    // Its own id is accepted; a `plan` in the context is ignored (the profile says free).
    expect(own.body).toMatchObject({ value: false, reason: "STATIC" });
    const victimOwn = await invoke(ofrepFlag, ofrepFlagEvent("realtime_upgrades", { token: victim.token }));
    expect(victimOwn.body).toMatchObject({
      value: true,
      reason: "TARGETING_MATCH",
      metadata: { source: "override" },
    });
  });
});
