import { route } from "#lib/http";
import { ReleaseRequest, releaseCredits, releaseKeyOf } from "#lib/quotas";

/** POST /users/limits/release: refunds a consume key's charge once (the upgrade failed). */
export const handler = route(
  { auth: true, body: ReleaseRequest.optional() },
  ({ user, body, headers, now }) =>
    releaseCredits(user, releaseKeyOf(headers["idempotency-key"], body?.request_id), now),
);
