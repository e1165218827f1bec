import { describe, expect, inject, it } from "vitest";
import { signDevToken } from "../../scripts/tokens.ts";
import { validateEveryResponse } from "./contract.ts";

// Against the real `serverless offline` (API Gateway routing, esbuild bundles) and the run's dynalite.

validateEveryResponse();
const base = inject("baseUrl");

async function token(plan = "free"): Promise<string> {
  return signDevToken({ sub: `e2e-quotas-${crypto.randomUUID()}`, plan });
}

function call(
  method: string,
  path: string,
  bearer: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  return fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe("e2e: quotas over real HTTP (serverless offline)", () => {
  it("current, check (body and query), consume with a key, replay, release", async () => {
    const user = await token("free");

    const current = await call("GET", "/users/limits/current", user);
    expect(current.status).toBe(200);
    expect(await current.json()).toMatchObject({
      plan: "free",
      daily_limit: 20,
      daily_used: 0,
      binding_window: "daily",
    });

    const check = await call("POST", "/users/limits/check?action=deep_upgrade", user);
    expect(await check.json()).toMatchObject({ action: "deep_upgrade", credits_required: 5, allowed: true });
    const checkBody = await call("POST", "/users/limits/check", user, { credits_required: 21 });
    expect(await checkBody.json()).toMatchObject({
      allowed: false,
      upgrade_required: true,
      reason: "daily_limit_reached",
    });

    const consume = await call(
      "POST",
      "/users/limits/consume",
      user,
      { action: "deep_upgrade" },
      { "Idempotency-Key": "e2e-1" },
    );
    expect(consume.status).toBe(200);
    expect(await consume.json()).toMatchObject({ charged: 5, replayed: false, daily_remaining: 15 });
    const replay = await call("POST", "/users/limits/consume", user, {
      action: "deep_upgrade",
      request_id: "e2e-1",
    });
    expect(await replay.json()).toMatchObject({ charged: 5, replayed: true, daily_remaining: 15 });

    const release = await call("POST", "/users/limits/release", user, {}, { "Idempotency-Key": "e2e-1" });
    expect(await release.json()).toMatchObject({ released: true, refunded: 5, daily_remaining: 20 });
    const again = await call("POST", "/users/limits/release", user, { request_id: "e2e-1" });
    expect(await again.json()).toMatchObject({ released: false, refunded: 0 });
  });

  it("answers 429 with Retry-After at the limit, 422 for an unknown action, 401 without a token", async () => {
    const user = await token("free");
    for (let i = 0; i < 4; i++) {
      const ok = await call("POST", "/users/limits/consume", user, { action: "deep_upgrade" });
      expect(ok.status).toBe(200);
    }
    const refused = await call("POST", "/users/limits/consume", user, { action: "upgrade" });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({
      code: "QUOTA_EXCEEDED",
      allowed: false,
      reason: "daily_limit_reached",
    });

    const unknown = await call("POST", "/users/limits/consume", user, { action: "free_lunch" });
    expect(unknown.status).toBe(422);

    const anonymous = await fetch(`${base}/users/limits/current`);
    expect(anonymous.status).toBe(401);
  });
});
