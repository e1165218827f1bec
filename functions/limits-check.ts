import { route } from "#lib/http";
import { CheckRequest, checkLimits, checkRequestOf } from "#lib/quotas";

/** POST /users/limits/check: would the action be allowed now? From the query string or a JSON body. */
export const handler = route(
  { auth: true, body: CheckRequest.optional(), query: CheckRequest },
  ({ user, body, query, now }) => checkLimits(user, checkRequestOf(query, body), now),
);
