import type { Context, ScheduledEvent } from "aws-lambda";
import { dropExpiredDedupeSets } from "#lib/usage/maintenance";

/** Nightly schedule: drops the dedupe sets of usage rollups past the acceptance window. */
export const handler = async (_event: ScheduledEvent, context?: Partial<Context>) => {
  const remaining = context?.getRemainingTimeInMillis?.();
  // Stop with 5 s to spare; the checkpoint lets the next run resume.
  return dropExpiredDedupeSets(new Date(), remaining ? Date.now() + remaining - 5_000 : Infinity);
};
