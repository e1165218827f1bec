import { z } from "zod";
import { route } from "#lib/http";
import { MAX_SYNC_BODY_BYTES } from "#lib/usage/event";
import { trackUsage } from "#lib/usage/ingest";

/** The JSON array of events, or `{ "events": [...] }`; each event is checked on its own in lib. */
const SyncBody = z.union([z.array(z.unknown()), z.strictObject({ events: z.array(z.unknown()) })]);

/** POST /users/usage/bulk-track: records a sync of usage events exactly once, event by event. */
export const handler = route(
  { auth: true, body: SyncBody, maxBodyBytes: MAX_SYNC_BODY_BYTES },
  async ({ user, body, now }) => trackUsage(user, Array.isArray(body) ? body : body.events, now),
);
