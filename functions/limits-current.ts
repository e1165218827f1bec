import { route } from "#lib/http";
import { currentLimits } from "#lib/quotas";

/** GET /users/limits/current: the caller's plan, limits, usage and resets (one DynamoDB read). */
export const handler = route({ auth: true }, ({ user, now }) => currentLimits(user, now));
