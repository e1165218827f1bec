import { afterAll, describe, expect, inject, it } from "vitest";
import { signDevToken } from "../../scripts/tokens.ts";
import { covered, OPERATIONS, validateEveryResponse } from "./contract.ts";

// Every route over real HTTP (serverless offline), happy path and main errors; every response is
// checked against openapi.json by validateEveryResponse (status declared, body matching, no
// undeclared field). The last test proves every operation of the document was exercised.

validateEveryResponse();

const base = inject("baseUrl");
const origin = "chrome-extension://abcdefghijklmnopabcdefghijklmnop";

async function user(plan = "free", roles?: string[]) {
  return signDevToken({ sub: `e2e-contract-${crypto.randomUUID()}`, plan, roles });
}

function call(
  method: string,
  path: string,
  token?: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  return fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token && { authorization: `Bearer ${token}` }),
      ...(body !== undefined && { "content-type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
}

const usageEvent = (id: string) => ({
  id,
  type: "upgrade",
  timestamp: new Date().toISOString(),
  domain: "https://chatgpt.com/c/1",
  technique: "chain_of_thought",
  success: true,
  improvement_score: 7.5,
  credits: 1,
});

describe("e2e contract: health, CORS and documentation", () => {
  it("health, preflight, /openapi.json, /docs and the renderer", async () => {
    expect((await call("GET", "/system/health/extension")).status).toBe(200);
    const preflight = await call("OPTIONS", "/users/limits/check", undefined, undefined, {
      origin,
      "access-control-request-method": "POST",
    });
    expect([200, 204]).toContain(preflight.status);
    const doc = await call("GET", "/openapi.json");
    expect(doc.status).toBe(200);
    expect(((await doc.json()) as { openapi: string }).openapi).toBe("3.1.0");
    const page = await call("GET", "/docs");
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    const js = await call("GET", "/docs/redoc.standalone.js");
    expect(js.headers.get("content-type")).toMatch(/javascript/);
    expect((await js.text()).length).toBeGreaterThan(500_000);
  });
});

describe("e2e contract: quotas", () => {
  it("current, check, consume, replay, release and their errors", async () => {
    const token = await user();
    expect((await call("GET", "/users/limits/current", token)).status).toBe(200);
    expect((await call("GET", "/users/limits/current")).status).toBe(401);
    expect((await call("GET", "/users/limits/current", "not.a.jwt")).status).toBe(401);

    expect((await call("POST", "/users/limits/check", token, { credits_required: 21 })).status).toBe(200);
    expect((await call("POST", "/users/limits/check?action=deep_upgrade", token)).status).toBe(200);
    expect((await call("POST", "/users/limits/check", token, { action: "free_lunch" })).status).toBe(422);
    expect((await call("POST", "/users/limits/check", token, "{not json")).status).toBe(400);

    const key = { "Idempotency-Key": `contract-${crypto.randomUUID()}` };
    expect((await call("POST", "/users/limits/consume", token, { action: "upgrade" }, key)).status).toBe(200);
    expect((await call("POST", "/users/limits/consume", token, { action: "upgrade" }, key)).status).toBe(200);
    expect((await call("POST", "/users/limits/consume", token, { action: "rewrite" }, key)).status).toBe(409);
    expect((await call("POST", "/users/limits/consume", token, {})).status).toBe(422);
    expect((await call("POST", "/users/limits/release", token, {}, key)).status).toBe(200);
    expect((await call("POST", "/users/limits/release", token, {}, key)).status).toBe(200);
    expect((await call("POST", "/users/limits/release", token, { request_id: "never-charged" })).status).toBe(
      404,
    );
    expect((await call("POST", "/users/limits/release", token, {})).status).toBe(422);

    for (let i = 0; i < 4; i++) {
      expect((await call("POST", "/users/limits/consume", token, { action: "deep_upgrade" })).status).toBe(
        200,
      );
    }
    const refused = await call("POST", "/users/limits/consume", token, { action: "upgrade" });
    expect(refused.status).toBe(429);
  });
});

describe("e2e contract: usage", () => {
  it("bulk-track (array and envelope), analytics (POST and GET) and their errors", async () => {
    const token = await user("pro");
    const id = crypto.randomUUID();
    const sync = [usageEvent(`${id}-1`), usageEvent(`${id}-2`), { id: "bad", prompt: "never stored" }];
    expect((await call("POST", "/users/usage/bulk-track", token, sync)).status).toBe(200);
    expect((await call("POST", "/users/usage/bulk-track", token, { events: sync })).status).toBe(200);
    expect((await call("POST", "/users/usage/bulk-track", token, "just text")).status).toBe(400);
    expect((await call("POST", "/users/usage/bulk-track", token, { rows: [] })).status).toBe(422);
    const tooMany = Array.from({ length: 501 }, (_, i) => usageEvent(`${id}-many-${i}`));
    expect((await call("POST", "/users/usage/bulk-track", token, tooMany)).status).toBe(413);

    expect((await call("POST", "/users/usage/analytics", token, { period: "30d" })).status).toBe(200);
    expect((await call("GET", "/users/usage/analytics?period=7d", token)).status).toBe(200);
    expect((await call("GET", "/users/usage/analytics?period=1y", token)).status).toBe(422);
    expect((await call("POST", "/users/usage/analytics", token, { period: "7d", extra: 1 })).status).toBe(
      422,
    );
  });
});

describe("e2e contract: features and OFREP", () => {
  it("features with ETag/304, OFREP bulk and single, and their errors", async () => {
    const token = await user("pro");
    const features = await call("GET", "/users/features", token);
    expect(features.status).toBe(200);
    const etag = features.headers.get("etag") ?? "";
    expect((await call("GET", "/users/features", token, undefined, { "if-none-match": etag })).status).toBe(
      304,
    );
    const badVersion = { "x-extension-version": "one.two" };
    expect((await call("GET", "/users/features", token, undefined, badVersion)).status).toBe(422);

    const bulk = await call("POST", "/ofrep/v1/evaluate/flags", token, { context: {} });
    expect(bulk.status).toBe(200);
    const tag = { "if-none-match": bulk.headers.get("etag") ?? "" };
    expect((await call("POST", "/ofrep/v1/evaluate/flags", token, { context: {} }, tag)).status).toBe(304);
    expect((await call("POST", "/ofrep/v1/evaluate/flags", token, "{oops")).status).toBe(400);

    const single = "/ofrep/v1/evaluate/flags/realtime_upgrades";
    expect((await call("POST", single, token, { context: { extensionVersion: "1.4.2" } })).status).toBe(200);
    expect((await call("POST", "/ofrep/v1/evaluate/flags/max_prompt_length", token, {})).status).toBe(200);
    expect((await call("POST", "/ofrep/v1/evaluate/flags/no_such_flag", token, {})).status).toBe(404);
    const someoneElse = { context: { targetingKey: "another-user" } };
    expect((await call("POST", single, token, someoneElse)).status).toBe(400);
    expect((await call("POST", single)).status).toBe(401);
  });
});

describe("e2e contract: admin flags", () => {
  it("list, create, get, kill, unkill, override, rollback, history, and their errors", async () => {
    const admin = await user("team", ["admin"]);
    const key = `contract_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const path = `/admin/flags/${key}`;

    expect((await call("GET", "/admin/flags", admin)).status).toBe(200);
    expect((await call("GET", "/admin/flags", await user())).status).toBe(403);
    expect((await call("GET", path, admin)).status).toBe(404);
    expect((await call("PUT", path, admin, { description: "no type yet" })).status).toBe(404);
    expect((await call("PUT", path, admin, { type: "boolean", default: false, rules: "x" })).status).toBe(
      422,
    );
    expect((await call("PUT", path, admin, { type: "boolean", default: false })).status).toBe(200);
    expect((await call("PUT", path, admin, { default: true, expected_version: 7 })).status).toBe(409);
    expect((await call("GET", path, admin)).status).toBe(200);
    expect((await call("POST", `${path}/kill`, admin, { reason: "contract test" })).status).toBe(200);
    expect((await call("POST", `${path}/unkill`, admin)).status).toBe(200);
    const override = { user_id: "someone", value: true };
    expect((await call("POST", `${path}/overrides`, admin, override)).status).toBe(200);
    expect((await call("POST", `${path}/rollback`, admin, { version: 1 })).status).toBe(200);
    expect((await call("POST", `${path}/rollback`, admin, { version: 99 })).status).toBe(404);
    expect((await call("POST", `${path}/rollback`, admin, "{")).status).toBe(400);
    expect((await call("GET", `${path}/history?limit=5`, admin)).status).toBe(200);
    expect((await call("GET", `${path}/history?limit=0`, admin)).status).toBe(422);
  });
});

describe("e2e contract: error reports", () => {
  it("report (stored, duplicate), listing, and their errors", async () => {
    const token = await user();
    const report = {
      id: `contract-${crypto.randomUUID()}`,
      level: "error",
      message: "TypeError: Cannot read properties of undefined (reading 'selection')",
      extension_version: "1.4.2",
      browser: "Chrome 131",
      os: "Linux",
      timestamp: new Date().toISOString(),
      context: { step: "render" },
    };
    expect((await call("POST", "/system/errors/report", token, report)).status).toBe(202);
    expect((await call("POST", "/system/errors/report", token, report)).status).toBe(202);
    expect((await call("POST", "/system/errors/report", token, { ...report, prompt: "secret" })).status).toBe(
      422,
    );
    expect((await call("POST", "/system/errors/report", token, "x".repeat(70_000))).status).toBe(413);

    const admin = await user("team", ["admin"]);
    expect((await call("GET", "/system/errors?days=1&limit=5&samples=2", admin)).status).toBe(200);
    expect((await call("GET", "/system/errors?days=0", admin)).status).toBe(422);
    expect((await call("GET", "/system/errors", token)).status).toBe(403);
  });

  it("answers 429 with the limit past the per-user rate", async () => {
    const token = await user();
    // 30 a minute per user: 61 sends pass the limit even if they straddle a window boundary.
    const statuses: number[] = [];
    for (let i = 0; i < 61 && !statuses.includes(429); i++) {
      const res = await call("POST", "/system/errors/report", token, {
        id: `contract-rate-${crypto.randomUUID()}`,
        level: "warning",
        message: `Rate test ${i}`,
        extension_version: "1.4.2",
        browser: "Chrome",
        os: "Linux",
        timestamp: new Date().toISOString(),
      });
      statuses.push(res.status);
    }
    expect(statuses).toContain(429);
  });
});

afterAll(() => {
  // Every operation's success answer was seen and checked (errors vary by route; see above).
  const successes = OPERATIONS.map((o) => {
    const status = Object.keys(o.operation.responses).find((s) => s.startsWith("2")) ?? "";
    return `${o.operation.operationId} ${status === "204" ? "200" : status}`;
  });
  const missing = successes.filter((s) => !covered.has(s) && !covered.has(s.replace(/ 200$/, " 204")));
  expect(missing, "operations whose success answer no test checked").toEqual([]);
});
