import { afterEach, describe, expect, it } from "vitest";
import { clearHealthCache, type HealthSettings, writeHealthSettings } from "#lib/health";
import { handler } from "../functions/health.ts";
import { eventFrom, invoke } from "./helpers.ts";

const noSettings: HealthSettings = { maintenance_window: null, notices: [], forced: {} };

describe("GET /system/health/extension", () => {
  afterEach(async () => {
    await writeHealthSettings(noSettings);
    clearHealthCache();
  });

  it("reports every service from real probes, without auth", async () => {
    const res = await invoke(handler, eventFrom("health"));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: "operational",
      services: {
        demon_engine: "not_configured",
        brain_engine: "not_configured",
        auth_service: "operational",
        usage_tracking: "operational",
      },
      maintenance_window: null,
      notices: [],
      checked_at: expect.any(String),
    });
    expect(res.headers["Cache-Control"]).toBe("public, max-age=5");
    expect(res.headers["Access-Control-Allow-Origin"]).toBe(
      "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
    );
  });

  it("lets an open maintenance window win and shows notices and forced statuses", async () => {
    const now = Date.now();
    await writeHealthSettings({
      maintenance_window: {
        start: new Date(now - 60_000).toISOString(),
        end: new Date(now + 3_600_000).toISOString(),
        message: "Database upgrade",
      },
      notices: [{ id: "n1", level: "info", message: "New techniques soon" }],
      forced: { brain_engine: "degraded" },
    });
    clearHealthCache();
    const res = await invoke(handler, eventFrom("health"));
    expect(res.body.status).toBe("maintenance");
    expect(res.body.services.brain_engine).toBe("degraded");
    expect(res.body.maintenance_window).toMatchObject({ message: "Database upgrade", active: true });
    expect(res.body.notices).toEqual([{ id: "n1", level: "info", message: "New techniques soon" }]);
  });

  it("follows the worst service when no window is open", async () => {
    await writeHealthSettings({ ...noSettings, forced: { demon_engine: "down" } });
    clearHealthCache();
    const res = await invoke(handler, eventFrom("health"));
    expect(res.body.status).toBe("down");
  });
});
