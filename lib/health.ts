import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { type Config, config } from "#lib/config";
import { db, TABLE } from "#lib/db/client";
import { keys } from "#lib/db/keys";
import { describeError, log } from "#lib/log";

export const SERVICE_NAMES = ["demon_engine", "brain_engine", "auth_service", "usage_tracking"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/**
 * A service's state. `not_configured` means no health URL is set for it: we say so rather than
 * claim it works, and it does not lower the overall status (nothing was observed failing).
 */
export const ServiceStatus = z.enum(["operational", "degraded", "down", "maintenance", "not_configured"]);
export type ServiceStatus = z.infer<typeof ServiceStatus>;
export type OverallStatus = "operational" | "degraded" | "down" | "maintenance";

/** Operator settings, stored in one item and written by `npm run admin -- health ...`. */
export const HealthSettings = z.object({
  maintenance_window: z
    .object({ start: z.iso.datetime(), end: z.iso.datetime(), message: z.string().max(500) })
    .nullable()
    .default(null),
  notices: z
    .array(
      z.object({
        id: z.string().max(64),
        level: z.enum(["info", "warning", "critical"]),
        message: z.string().max(500),
        until: z.iso.datetime().optional(),
      }),
    )
    .max(20)
    .default([]),
  forced: z.partialRecord(z.enum(SERVICE_NAMES), ServiceStatus).default({}),
});
export type HealthSettings = z.infer<typeof HealthSettings>;

export interface HealthReport {
  status: OverallStatus;
  services: Record<ServiceName, ServiceStatus>;
  maintenance_window: (HealthSettings["maintenance_window"] & { active: boolean }) | null;
  notices: HealthSettings["notices"];
  checked_at: string;
}

const severity: Record<ServiceStatus, number> = {
  not_configured: 0,
  operational: 0,
  degraded: 1,
  maintenance: 1,
  down: 2,
};

/** Runs a probe with a deadline; a probe that throws or runs late reports `down`. */
async function probe(name: string, timeoutMs: number, run: (signal: AbortSignal) => Promise<ServiceStatus>) {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    return await Promise.race([
      run(signal),
      new Promise<never>((_, reject) =>
        signal.addEventListener("abort", () => reject(new Error(`${name} probe timed out`))),
      ),
    ]);
  } catch (error) {
    log("warn", "health probe failed", { service: name, ...describeError(error) });
    return "down" as const;
  }
}

async function probeUrl(url: string | undefined, signal: AbortSignal): Promise<ServiceStatus> {
  if (!url) return "not_configured";
  const response = await fetch(url, { signal, headers: { accept: "application/json" } });
  await response.body?.cancel();
  if (response.ok) return "operational";
  return response.status >= 500 ? "down" : "degraded";
}

/** Reads the operator settings; the same read proves DynamoDB answers. */
export async function readHealthSettings(): Promise<HealthSettings> {
  const { Item } = await db.send(new GetCommand({ TableName: TABLE, Key: keys.healthSettings() }));
  const parsed = HealthSettings.safeParse(Item?.settings ?? {});
  if (!parsed.success) log("warn", "health settings item is malformed; using defaults");
  return parsed.success ? parsed.data : HealthSettings.parse({});
}

/** Replaces the operator settings (admin command). */
export async function writeHealthSettings(settings: HealthSettings): Promise<void> {
  await db.send(
    new PutCommand({
      TableName: TABLE,
      Item: {
        ...keys.healthSettings(),
        settings: HealthSettings.parse(settings),
        updated_at: new Date().toISOString(),
      },
    }),
  );
}

/**
 * Probes every service concurrently, each within HEALTH_PROBE_TIMEOUT_MS, and folds in the
 * operator settings: forced statuses replace probe results, the overall status is the worst
 * service's, and an open maintenance window wins over everything.
 */
export async function checkHealth(
  now: Date,
  cfg: Pick<
    Config,
    | "HEALTH_PROBE_TIMEOUT_MS"
    | "JWT_JWKS_URL"
    | "JWT_LOCAL_SECRET"
    | "DEMON_ENGINE_HEALTH_URL"
    | "BRAIN_ENGINE_HEALTH_URL"
  > = config,
): Promise<HealthReport> {
  const timeout = cfg.HEALTH_PROBE_TIMEOUT_MS;
  let settings: HealthSettings = HealthSettings.parse({});
  const [usage, auth, demon, brain] = await Promise.all([
    probe("usage_tracking", timeout, async () => {
      settings = await readHealthSettings();
      return "operational";
    }),
    probe("auth_service", timeout, async (signal) =>
      cfg.JWT_JWKS_URL ? probeJwks(cfg.JWT_JWKS_URL, signal) : cfg.JWT_LOCAL_SECRET ? "operational" : "down",
    ),
    probe("demon_engine", timeout, (signal) => probeUrl(cfg.DEMON_ENGINE_HEALTH_URL, signal)),
    probe("brain_engine", timeout, (signal) => probeUrl(cfg.BRAIN_ENGINE_HEALTH_URL, signal)),
  ]);
  const services: Record<ServiceName, ServiceStatus> = {
    demon_engine: demon,
    brain_engine: brain,
    auth_service: auth,
    usage_tracking: usage,
    ...settings.forced,
  };

  const window = settings.maintenance_window;
  const windowOpen =
    window !== null && Date.parse(window.start) <= now.getTime() && now.getTime() < Date.parse(window.end);
  const worst = Math.max(...Object.values(services).map((s) => severity[s]));
  const status: OverallStatus = windowOpen
    ? "maintenance"
    : worst === 2
      ? "down"
      : worst === 1
        ? "degraded"
        : "operational";

  return {
    status,
    services,
    maintenance_window:
      window && Date.parse(window.end) > now.getTime() ? { ...window, active: windowOpen } : null,
    notices: settings.notices.filter((n) => !n.until || Date.parse(n.until) > now.getTime()),
    checked_at: now.toISOString(),
  };
}

async function probeJwks(url: string, signal: AbortSignal): Promise<ServiceStatus> {
  const response = await fetch(url, { signal });
  if (!response.ok) return "down";
  const body = (await response.json()) as { keys?: unknown[] };
  return Array.isArray(body.keys) && body.keys.length > 0 ? "operational" : "degraded";
}

let cached: { at: number; report: HealthReport } | undefined;

/** The health report, computed at most once per HEALTH_CACHE_SECONDS per warm instance. */
export async function cachedHealth(
  now: Date,
  cacheSeconds = config.HEALTH_CACHE_SECONDS,
): Promise<HealthReport> {
  if (cached && now.getTime() - cached.at < cacheSeconds * 1000) return cached.report;
  const report = await checkHealth(now);
  cached = { at: now.getTime(), report };
  return report;
}

/** Forgets the cached report (tests, and the admin command run in-process). */
export function clearHealthCache(): void {
  cached = undefined;
}
