import { route } from "#lib/http";
import { ConsumeRequest, consumeCredits, consumeKeyOf } from "#lib/quotas";

/** POST /users/limits/consume: charges the action's price, or 429 with Retry-After. Idempotent by key. */
export const handler = route({ auth: true, body: ConsumeRequest }, ({ user, body, headers, now }) =>
  consumeCredits(user, body.action, consumeKeyOf(headers["idempotency-key"], body.request_id), now),
);
