import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { handler as adminFlags } from "../functions/admin-flags.ts";
import { handler as features } from "../functions/features.ts";
import { handler as ofrepBulk } from "../functions/ofrep-bulk.ts";
import { handler as ofrepFlag } from "../functions/ofrep-flag.ts";
import { eventFrom, freshUser, invoke, signDevToken } from "./helpers.ts";

// These cases change nothing stored, so they may run beside tests/flags.test.ts.

const adminSamples = readdirSync(new URL("../events/", import.meta.url))
  .filter((f) => /^adminFlags(-[a-z]+)?\.json$/.test(f))
  .map((f) => f.slice(0, -".json".length));

describe("admin flag routes: security", () => {
  it("has a sample event for every admin route", () => {
    expect(adminSamples.sort()).toEqual([
      "adminFlags",
      "adminFlags-get",
      "adminFlags-history",
      "adminFlags-kill",
      "adminFlags-override",
      "adminFlags-put",
      "adminFlags-rollback",
      "adminFlags-unkill",
    ]);
  });

  it("refuses a normal user's token with 403 on every route, before reading the body", async () => {
    const user = await freshUser("team", ["support"]);
    for (const name of adminSamples) {
      const res = await invoke(adminFlags, eventFrom(name, { token: user.token }));
      expect(res, name).toEqual({
        status: 403,
        headers: expect.objectContaining({ "Content-Type": "application/json" }),
        body: {
          detail: "This route needs the admin role",
          code: "FORBIDDEN",
          request_id: expect.any(String),
        },
      });
    }
  });

  it("refuses a missing, forged or expired token with 401", async () => {
    const forged = `${(await freshUser(undefined, ["admin"])).token.slice(0, -4)}AAAA`;
    const expired = await signDevToken({ sub: "old-admin", roles: ["admin"], ttlSeconds: -3600 });
    for (const name of adminSamples) {
      for (const token of [undefined, forged, expired]) {
        const res = await invoke(adminFlags, eventFrom(name, { token: token ?? null }));
        expect(res.status, name).toBe(401);
        expect(res.body.code).toBe("UNAUTHORIZED");
      }
    }
  });

  it("answers 404 to an admin on a route key it does not serve", async () => {
    const admin = await freshUser(undefined, ["admin"]);
    const event = eventFrom("adminFlags", { token: admin.token });
    event.routeKey = "DELETE /admin/flags";
    const res = await invoke(adminFlags, event);
    expect(res).toMatchObject({ status: 404, body: { code: "NOT_FOUND" } });
  });
});

describe("user flag routes: security", () => {
  it("need a valid token", async () => {
    for (const [handler, name] of [
      [features, "features"],
      [ofrepBulk, "ofrepBulk"],
      [ofrepFlag, "ofrepFlag"],
    ] as const) {
      const res = await invoke(handler, eventFrom(name, { token: "not-a-jwt" }));
      expect(res.status, name).toBe(401);
      expect(res.headers["WWW-Authenticate"]).toBe('Bearer error="invalid_token"');
    }
  });

  it("refuse an oversized OFREP body with 413 before parsing it", async () => {
    const user = await freshUser("free");
    const res = await invoke(
      ofrepBulk,
      eventFrom("ofrepBulk", { token: user.token, body: { context: { pad: "x".repeat(20_000) } } }),
    );
    expect(res).toMatchObject({ status: 413, body: { code: "PAYLOAD_TOO_LARGE" } });
  });

  it("never let a token's plan claim outrank the stored plan", async () => {
    // The profile is created from the first token; a later token claiming `team` changes nothing.
    const id = `test-${crypto.randomUUID()}`;
    const first = await signDevToken({ sub: id, plan: "free" });
    const claimsTeam = await signDevToken({ sub: id, plan: "team" });
    await invoke(features, eventFrom("features", { token: first }));
    const res = await invoke(features, eventFrom("features", { token: claimsTeam }));
    expect(res.body.realtime_upgrades).toBe(false);
    expect(res.body.max_prompt_length).toBe(2_000);
  });
});
