import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HttpHandler } from "#lib/http";
import { eventFrom, freshUser, invoke } from "./helpers.ts";

/**
 * The database is unreachable (a closed port) or hangs (a port that accepts and never answers).
 * lib/ reads its endpoint at import, so this file points it at the fault before importing.
 */
let hanging: Server;
const sockets: Socket[] = [];
let closedPort: number;
let health: HttpHandler;
let profileRoute: HttpHandler;
let clearHealthCache: () => void;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as { port: number }).port;
}

async function importWithEndpoint(endpoint: string) {
  process.env.DYNAMODB_ENDPOINT = endpoint;
  const { vi } = await import("vitest");
  vi.resetModules();
  const { route } = await import("#lib/http");
  const { getOrCreateProfile } = await import("#lib/profile");
  const healthModule = await import("#lib/health");
  health = (await import("../functions/health.ts")).handler;
  clearHealthCache = healthModule.clearHealthCache;
  profileRoute = route({ auth: true }, ({ user }) => getOrCreateProfile(user));
}

beforeAll(async () => {
  const probe = createServer();
  closedPort = await listen(probe);
  await new Promise<void>((r) => probe.close(() => r()));
  hanging = createServer((socket) => sockets.push(socket));
  await listen(hanging);
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => hanging.close(() => r()));
});

describe.each([
  ["unreachable", () => `http://127.0.0.1:${closedPort}`],
  ["hanging", () => `http://127.0.0.1:${(hanging.address() as { port: number }).port}`],
])("database %s", (_name, endpoint) => {
  beforeAll(async () => importWithEndpoint(endpoint()));

  it("health reports usage_tracking down within the probe timeout, with 200 not 500", async () => {
    clearHealthCache();
    const started = Date.now();
    const res = await invoke(health, eventFrom("health"));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(res.status).toBe(200);
    expect(res.body.services.usage_tracking).toBe("down");
    expect(res.body.status).toBe("down");
  });

  it("a route that needs the database answers 503 with Retry-After within the client timeout", async () => {
    const { token } = await freshUser();
    const started = Date.now();
    const res = await invoke(profileRoute, eventFrom("health", { token }));
    expect(Date.now() - started).toBeLessThan(6_000);
    expect(res.status).toBe(503);
    expect(res.headers["Retry-After"]).toBe("2");
    expect(res.body).toEqual({
      detail: "The service is temporarily unavailable; try again shortly",
      code: "UNAVAILABLE",
      request_id: "Ab1Cd2Ef3Gh=",
    });
  });
});
