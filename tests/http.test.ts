import { describe, expect, it } from "vitest";
import { z } from "zod";
import { AppError } from "#lib/errors";
import { Reply, route } from "#lib/http";
import { handler as preflightHandler } from "../functions/preflight.ts";
import { eventFrom, invoke } from "./helpers.ts";

const Body = z.strictObject({
  action: z.enum(["upgrade", "deep_upgrade"]),
  items: z.array(z.strictObject({ id: z.string().max(8) })).max(3),
});
const Query = z.strictObject({ period: z.enum(["7d", "30d"]).default("7d") });

const echo = route({ auth: false, body: Body, query: Query, maxBodyBytes: 2048 }, ({ body, query }) => ({
  body,
  query,
}));

describe("the HTTP wrapper", () => {
  describe("happy path", () => {
    it("parses and validates body and query, and answers 200 JSON with a request id", async () => {
      const res = await invoke(
        echo,
        eventFrom("health", { body: { action: "upgrade", items: [{ id: "a" }] }, query: { period: "30d" } }),
      );
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        body: { action: "upgrade", items: [{ id: "a" }] },
        query: { period: "30d" },
      });
      expect(res.headers["Content-Type"]).toBe("application/json");
      expect(res.headers["X-Request-Id"]).toBe("Ab1Cd2Ef3Gh=");
    });

    it("reads base64-encoded bodies", async () => {
      const event = eventFrom("health", { query: {} });
      event.body = Buffer.from(JSON.stringify({ action: "deep_upgrade", items: [] })).toString("base64");
      event.isBase64Encoded = true;
      const res = await invoke(echo, event);
      expect(res.body.body.action).toBe("deep_upgrade");
    });

    it("sends a Reply's status and headers", async () => {
      const created = route({ auth: false }, () => new Reply(202, { ok: true }, { ETag: '"v1"' }));
      const res = await invoke(created, eventFrom("health"));
      expect(res).toMatchObject({ status: 202, body: { ok: true }, headers: { ETag: '"v1"' } });
    });
  });

  describe("bad input", () => {
    it("413 past the body cap, before parsing", async () => {
      const res = await invoke(echo, eventFrom("health", { rawBody: `{"action":"${"x".repeat(4000)}"}` }));
      expect(res.status).toBe(413);
      expect(res.body).toEqual({
        detail: "The request body is larger than 2048 bytes",
        code: "PAYLOAD_TOO_LARGE",
        request_id: "Ab1Cd2Ef3Gh=",
        max_bytes: 2048,
      });
    });

    it("400 on malformed JSON", async () => {
      const res = await invoke(echo, eventFrom("health", { rawBody: '{"action": "upgrade",' }));
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: "INVALID_JSON", detail: "The request body is not valid JSON" });
    });

    it("422 naming each field path, FastAPI-style", async () => {
      const res = await invoke(
        echo,
        eventFrom("health", {
          body: { action: "nope", items: [{ id: "toolongid1" }] },
          query: { period: "1y" },
        }),
      );
      expect(res.status).toBe(422);
      expect(res.body.code).toBe("VALIDATION_FAILED");
      expect(res.body.detail).toMatch(/^Invalid request: body\.action: .+; body\.items\.0\.id: .+$/);
      expect(res.body.errors.map((e: { loc: unknown[] }) => e.loc)).toEqual([
        ["body", "action"],
        ["body", "items", 0, "id"],
      ]);
    });

    it("422 on an empty body when the schema needs one, and on unknown keys such as __proto__", async () => {
      expect((await invoke(echo, eventFrom("health"))).status).toBe(422);
      const res = await invoke(
        echo,
        eventFrom("health", { rawBody: '{"action":"upgrade","items":[],"__proto__":{"admin":true}}' }),
      );
      expect(res.status).toBe(422);
      expect(({} as Record<string, unknown>).admin).toBeUndefined();
    });

    it("400 on nesting too deep for the parser, never 500", async () => {
      const deep = `${"[".repeat(200_000)}${"]".repeat(200_000)}`;
      const res = await invoke(
        route({ auth: false, body: z.unknown() }, () => ({})),
        eventFrom("health", { rawBody: deep }),
      );
      expect([200, 400]).toContain(res.status);
    });
  });

  describe("errors", () => {
    it("maps an AppError to its status with detail, code and request id", async () => {
      const conflict = route({ auth: false }, () => {
        throw new AppError("CONFLICT", "Already done", { extra: { id: "x" } });
      });
      const res = await invoke(conflict, eventFrom("health"));
      expect(res).toMatchObject({
        status: 409,
        body: { detail: "Already done", code: "CONFLICT", request_id: "Ab1Cd2Ef3Gh=", id: "x" },
      });
    });

    it("answers an unknown error with a bare 500 and no internals", async () => {
      const broken = route({ auth: false }, () => {
        throw new TypeError("Cannot read properties of undefined (reading 'secret_column')");
      });
      const res = await invoke(broken, eventFrom("health"));
      expect(res.status).toBe(500);
      expect(res.body).toEqual({
        detail: "Internal server error",
        code: "INTERNAL",
        request_id: "Ab1Cd2Ef3Gh=",
      });
    });

    it("answers a throttled database with 503 and Retry-After", async () => {
      const throttled = route({ auth: false }, () => {
        const error = new Error("Rate of requests exceeds the allowed throughput.");
        error.name = "ProvisionedThroughputExceededException";
        throw error;
      });
      const res = await invoke(throttled, eventFrom("health"));
      expect(res.status).toBe(503);
      expect(res.headers["Retry-After"]).toBe("2");
      expect(res.body.detail).not.toMatch(/throughput/i);
    });
  });

  describe("CORS", () => {
    const ok = route({ auth: false }, () => ({}));

    it("allows configured extension origins (any id of a scheme://* entry)", async () => {
      for (const origin of ["chrome-extension://abcdefghijklmnop", "moz-extension://0f9a-uuid"]) {
        const res = await invoke(ok, eventFrom("health", { headers: { origin } }));
        expect(res.headers["Access-Control-Allow-Origin"]).toBe(origin);
        expect(res.headers.Vary).toBe("Origin");
      }
    });

    it("sends nothing to other origins", async () => {
      for (const origin of ["https://evil.example.com", "chrome-extension://", "null"]) {
        const res = await invoke(ok, eventFrom("health", { headers: { origin } }));
        expect(res.headers["Access-Control-Allow-Origin"]).toBeUndefined();
      }
    });

    it("answers the preflight for an allowed origin", async () => {
      const res = await invoke(preflightHandler, eventFrom("preflight"));
      expect(res.status).toBe(204);
      expect(res.headers["Access-Control-Allow-Origin"]).toBe(
        "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
      );
      expect(res.headers["Access-Control-Allow-Headers"]).toMatch(/Authorization/);
      expect(res.headers["Access-Control-Allow-Methods"]).toMatch(/POST/);
    });

    it("answers a preflight from another origin without CORS headers", async () => {
      const res = await invoke(
        preflightHandler,
        eventFrom("preflight", { headers: { origin: "https://evil.example.com" } }),
      );
      expect(res.status).toBe(204);
      expect(res.headers["Access-Control-Allow-Origin"]).toBeUndefined();
      expect(res.headers["Access-Control-Allow-Methods"]).toBeUndefined();
    });
  });
});
