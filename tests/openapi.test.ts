import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import type { ApiRoutes } from "#lib/api-types";
import { buildOpenApi, renderOpenApi } from "#lib/openapi/document";
import { REDOC_CDN_LOGO } from "#lib/openapi/reference";
import { ROUTES, routeKeyOf } from "#lib/openapi/routes";
import { handler as docs } from "../functions/docs.ts";
import { checkContract } from "./e2e/contract.ts";
import { eventFrom, invoke, loadEvent } from "./helpers.ts";

const run = promisify(execFile);
const committed = readFileSync(new URL("../openapi.json", import.meta.url), "utf8");

/** Every `httpApi` event of serverless.yml as `{ function, routeKey }` (they are all written inline). */
function serverlessRoutes(): { fn: string; routeKey: string }[] {
  const yml = readFileSync(new URL("../serverless.yml", import.meta.url), "utf8");
  const functionsBlock = yml.slice(yml.indexOf("\nfunctions:"), yml.indexOf("\nresources:"));
  const out: { fn: string; routeKey: string }[] = [];
  let fn = "";
  for (const line of functionsBlock.split("\n")) {
    const name = /^ {2}([A-Za-z0-9]+):\s*$/.exec(line)?.[1];
    if (name) fn = name;
    const api = /httpApi:\s*\{\s*method:\s*(\w+),\s*path:\s*(?:"([^"]+)"|([^\s,}]+))\s*\}/.exec(line);
    if (api) out.push({ fn, routeKey: `${api[1]?.toUpperCase()} ${api[2] ?? api[3]}` });
    else if (line.includes("httpApi")) throw new Error(`unparsed httpApi event: ${line}`);
  }
  return out;
}

describe("openapi.json: generation", () => {
  it("is deterministic and equals the committed file byte for byte", () => {
    const first = renderOpenApi();
    expect(renderOpenApi(buildOpenApi())).toBe(first);
    expect(first).toBe(committed);
  });

  it("has every route of serverless.yml, served by the same function, and no other", () => {
    const yml = serverlessRoutes();
    const document = JSON.parse(committed) as {
      paths: Record<string, Record<string, { "x-route-key": string; "x-function": string }>>;
    };
    const documented = Object.values(document.paths).flatMap((item) =>
      Object.values(item).map((op) => ({ fn: op["x-function"], routeKey: op["x-route-key"] })),
    );
    const sort = (list: { fn: string; routeKey: string }[]) =>
      [...list].sort((a, b) => a.routeKey.localeCompare(b.routeKey));
    expect(yml.length).toBeGreaterThan(20);
    expect(sort(documented)).toEqual(sort(yml));
    expect(ROUTES.map(routeKeyOf).sort()).toEqual(yml.map((r) => r.routeKey).sort());
  });

  it("declares bearer auth on authenticated routes, 401 on each, and 403 on admin routes", () => {
    for (const route of ROUTES) {
      if (route.auth) expect(route.responses[401], routeKeyOf(route)).toBeDefined();
      if (route.auth === "admin") expect(route.responses[403], routeKeyOf(route)).toBeDefined();
      if (!route.auth) expect(route.responses[401], routeKeyOf(route)).toBeUndefined();
    }
  });

  it("takes its request examples from events/, and each one passes the route's schema", () => {
    for (const route of ROUTES) {
      for (const name of route.events ?? []) {
        const event = loadEvent(name);
        expect(event.routeKey, `events/${name}.json`).toBe(routeKeyOf(route));
        if (route.body && event.body) {
          const parsed = route.body.schema.schema.safeParse(JSON.parse(event.body));
          expect(parsed.error, `events/${name}.json body`).toBeUndefined();
        }
        if (route.query && event.queryStringParameters) {
          expect(route.query.safeParse(event.queryStringParameters).error).toBeUndefined();
        }
      }
    }
  });

  it("types every JSON route for the extension in lib/api-types.ts (ApiRoutes)", () => {
    // `satisfies` makes tsc fail when ApiRoutes gains or loses a route; the test compares it to the registry.
    const typed = {
      "GET /system/health/extension": true,
      "GET /users/limits/current": true,
      "POST /users/limits/check": true,
      "POST /users/limits/consume": true,
      "POST /users/limits/release": true,
      "POST /users/usage/bulk-track": true,
      "POST /users/usage/analytics": true,
      "GET /users/usage/analytics": true,
      "GET /users/features": true,
      "POST /ofrep/v1/evaluate/flags": true,
      "POST /ofrep/v1/evaluate/flags/{key}": true,
      "GET /admin/flags": true,
      "GET /admin/flags/{key}": true,
      "PUT /admin/flags/{key}": true,
      "POST /admin/flags/{key}/kill": true,
      "POST /admin/flags/{key}/unkill": true,
      "POST /admin/flags/{key}/rollback": true,
      "POST /admin/flags/{key}/overrides": true,
      "GET /admin/flags/{key}/history": true,
      "POST /system/errors/report": true,
      "GET /system/errors": true,
    } satisfies Record<keyof ApiRoutes, true>;
    const jsonRoutes = ROUTES.filter((r) => r.method !== "OPTIONS" && r.tag !== "Documentation");
    expect(Object.keys(typed).sort()).toEqual(jsonRoutes.map(routeKeyOf).sort());
  });

  it("passes `redocly lint` with no errors", async () => {
    // execFile rejects on a non-zero exit, which is how redocly reports errors.
    const { stdout, stderr } = await run("npx", ["redocly", "lint", "openapi.json", "--format=stylish"], {
      env: { ...process.env, NO_COLOR: "1" },
    });
    expect(`${stdout}${stderr}`).toMatch(/Your API description is valid/);
  }, 60_000);
});

describe("docs function: GET /openapi.json, /docs, /docs/redoc.standalone.js", () => {
  it("serves the committed document as JSON", async () => {
    const res = await invoke(docs, eventFrom("docs"));
    expect(res.status).toBe(200);
    expect(res.headers["Content-Type"]).toBe("application/json");
    expect(res.body).toEqual(JSON.parse(committed));
  });

  it("serves the reference page, which loads the local renderer and the document (no CDN)", async () => {
    const result = await docs(eventFrom("docs-page"));
    expect(result.statusCode).toBe(200);
    expect(result.headers?.["Content-Type"]).toBe("text/html; charset=utf-8");
    expect(result.headers?.["X-Request-Id"]).toBeTruthy();
    expect(result.body).toContain('<script src="docs/redoc.standalone.js"></script>');
    expect(result.body).toContain('Redoc.init("openapi.json"');
    expect(result.body).not.toMatch(/https?:\/\//);
  });

  it("serves Redoc's standalone bundle from node_modules, its CDN logo inlined, cacheable", async () => {
    const result = await docs(eventFrom("docs-renderer"));
    expect(result.statusCode).toBe(200);
    expect(result.headers?.["Content-Type"]).toBe("application/javascript; charset=utf-8");
    expect(result.headers?.["Cache-Control"]).toBe("public, max-age=86400");
    const original = readFileSync(
      new URL("../node_modules/redoc/bundles/redoc.standalone.js", import.meta.url),
      "utf8",
    );
    expect(original).toContain(REDOC_CDN_LOGO);
    expect(result.body).not.toContain("cdn.redoc.ly");
    expect(result.body?.length).toBeGreaterThan(original.length - 200);
  });

  it("answers another route key of the function with a JSON 404", async () => {
    const event = eventFrom("docs");
    event.routeKey = "GET /docs/other.js";
    const res = await invoke(docs, event);
    expect(res).toMatchObject({ status: 404, body: { code: "NOT_FOUND" } });
  });
});

describe("contract check (tests/e2e/contract.ts) against synthetic responses", () => {
  const limits = {
    plan: "free",
    timezone: "UTC",
    daily_limit: 20,
    daily_used: 0,
    daily_remaining: 20,
    monthly_limit: 300,
    monthly_used: 0,
    monthly_remaining: 300,
    remaining_credits: 20,
    resets_at: "2026-12-04T00:00:00.000Z",
    monthly_resets_at: "2027-01-01T00:00:00.000Z",
    binding_window: "daily",
  };
  const url = "http://127.0.0.1:3000/users/limits/current";
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json", "x-request-id": "r1", ...headers },
    });

  it("accepts a response that matches its operation", async () => {
    expect(await checkContract("GET", url, json(200, limits))).toEqual({
      operationId: "getCurrentLimits",
      status: 200,
      violations: [],
    });
  });

  it("fails an undeclared field, a missing field and a wrong type", async () => {
    const { violations } = await checkContract(
      "GET",
      url,
      json(200, { ...limits, surprise: 1, daily_used: "0", plan: undefined }),
    );
    expect(violations.join("\n")).toMatch(/surprise/);
    expect(violations.join("\n")).toMatch(/daily_used must be integer/);
    expect(violations.join("\n")).toMatch(/required property 'plan'/);
  });

  it("fails an undeclared status, and a declared header that is missing", async () => {
    const teapot = await checkContract("GET", url, json(418, {}));
    expect(teapot.violations[0]).toMatch(/status 418 is not declared for getCurrentLimits/);
    const noId = await checkContract("GET", url, new Response(JSON.stringify(limits), { status: 200 }));
    expect(noId.violations.join("\n")).toMatch(/X-Request-Id is missing/);
  });

  it("accepts API Gateway's own 500 body (a failed or timed-out function), which has no request id", async () => {
    const gateway = new Response(JSON.stringify({ message: "Internal Server Error" }), {
      status: 500,
      headers: { "content-type": "application/json" },
    });
    expect((await checkContract("GET", url, gateway)).violations).toEqual([]);
  });

  it("checks error bodies: closed, with the codes of their status", async () => {
    const good = { detail: "Not authenticated", code: "UNAUTHORIZED", request_id: "r1" };
    const auth = { "www-authenticate": 'Bearer error="invalid_token"' };
    expect((await checkContract("GET", url, json(401, good, auth))).violations).toEqual([]);
    const wrongCode = await checkContract("GET", url, json(401, { ...good, code: "FORBIDDEN" }, auth));
    expect(wrongCode.violations.join("\n")).toMatch(/code must be equal to one of the allowed values/);
  });

  it("matches literal paths before templates, greedy {proxy+} for OPTIONS only, and skips unknown routes", async () => {
    const flag = await checkContract(
      "POST",
      "http://x/admin/flags/a_flag/kill",
      json(403, { detail: "d", code: "FORBIDDEN", request_id: "r" }),
    );
    expect(flag.operationId).toBe("adminKillFlag");
    const preflight = await checkContract(
      "OPTIONS",
      "http://x/users/limits/check",
      new Response(null, { status: 204, headers: { "x-request-id": "r" } }),
    );
    expect(preflight).toEqual({ operationId: "corsPreflight", status: 204, violations: [] });
    expect(await checkContract("GET", "http://x/no/such/route", json(404, {}))).toEqual({
      status: 404,
      violations: [],
    });
  });
});
