import { OFREP_MAX_BODY_BYTES, ofrepBulk } from "#lib/flags/ofrep";
import { route } from "#lib/http";

/** POST /ofrep/v1/evaluate/flags: OFREP bulk evaluation for the caller, with ETag / 304. */
export const handler = route(
  { auth: true, maxBodyBytes: OFREP_MAX_BODY_BYTES },
  ({ event, user, headers, now }) => ofrepBulk(event, user, headers["if-none-match"], now),
);
