import { featuresReply } from "#lib/flags/features";
import { route } from "#lib/http";

/** GET /users/features: the caller's feature switches and configuration, with ETag / 304. */
export const handler = route({ auth: true }, ({ user, headers, now }) => featuresReply(user, headers, now));
