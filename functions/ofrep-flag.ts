import { OFREP_MAX_BODY_BYTES, ofrepFlag } from "#lib/flags/ofrep";
import { route } from "#lib/http";

/** POST /ofrep/v1/evaluate/flags/{key}: OFREP single-flag evaluation for the caller. */
export const handler = route({ auth: true, maxBodyBytes: OFREP_MAX_BODY_BYTES }, ({ event, user, now }) =>
  ofrepFlag(event, user, now),
);
