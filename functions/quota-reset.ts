import type { Context, ScheduledEvent } from "aws-lambda";
import { runQuotaReset } from "#lib/quotas/reset";

/**
 * Scheduled (hourly): closes finished quota windows with per-user statements, deletes counters past
 * retention, logs a summary. Idempotent and resumable; see lib/quotas/reset.ts.
 */
export const handler = async (_event: ScheduledEvent, context?: Partial<Context>) =>
  runQuotaReset({
    now: new Date(),
    remainingMs: () => context?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY,
  });
