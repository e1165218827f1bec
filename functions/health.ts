import { config } from "#lib/config";
import { cachedHealth } from "#lib/health";
import { Reply, route } from "#lib/http";

/** GET /system/health/extension: service statuses for the extension, no auth, cached briefly. */
export const handler = route({ auth: false }, async ({ now }) => {
  const report = await cachedHealth(now);
  return new Reply(200, report, { "Cache-Control": `public, max-age=${config.HEALTH_CACHE_SECONDS}` });
});
