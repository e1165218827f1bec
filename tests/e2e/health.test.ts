import { describe, expect, inject, it } from "vitest";
import { validateEveryResponse } from "./contract.ts";

validateEveryResponse();
const base = inject("baseUrl");

describe("e2e: health and CORS over real HTTP (serverless offline)", () => {
  it("GET /system/health/extension answers without auth, with usage_tracking operational", async () => {
    const res = await fetch(`${base}/system/health/extension`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toMatch(/max-age=\d+/);
    const body = await res.json();
    expect(body).toMatchObject({
      status: "operational",
      services: {
        demon_engine: "not_configured",
        brain_engine: "not_configured",
        auth_service: "operational",
        usage_tracking: "operational",
      },
      maintenance_window: null,
      notices: [],
    });
  });

  it("answers a CORS preflight for an extension origin", async () => {
    const res = await fetch(`${base}/users/limits/check`, {
      method: "OPTIONS",
      headers: {
        origin: "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });
    // The handler answers 204 (tests/http.test.ts); serverless offline rewrites an empty 204 to 200.
    expect([200, 204]).toContain(res.status);
    expect(res.headers.get("access-control-allow-methods")).toMatch(/POST/);
    expect(res.headers.get("access-control-allow-origin")).toBe(
      "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
    );
  });

  it("answers an unknown route with a JSON 404", async () => {
    const res = await fetch(`${base}/no/such/route`);
    expect(res.status).toBe(404);
  });
});
