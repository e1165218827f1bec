import type { AuthUser } from "#lib/auth";
import { type Config, config } from "#lib/config";
import { type AlertOutcome, maybeAlert } from "#lib/error-reports/alerts";
import { errorTypeOf, type Fingerprint, fingerprintOf } from "#lib/error-reports/fingerprint";
import { type ErrorReportBody, type ScrubbedReport, truncate } from "#lib/error-reports/schema";
import { scrubReport } from "#lib/error-reports/scrub";
import { readSample, recordDropped, type StoreStatus, storeReport } from "#lib/error-reports/store";
import { log } from "#lib/log";
import { consumeRateLimit, type RateLimit, rateLimitedError } from "#lib/rate-limit";

/** What POST /system/errors/report answers (202). */
export interface IntakeResult {
  id: string;
  group_id: string;
  /** `stored`: new report; `duplicate`: this id was received before, nothing changed. */
  status: "stored" | "duplicate";
  fingerprint: Fingerprint["source"];
}

type IntakeConfig = Pick<Config, "ERROR_REPORTS_PER_MINUTE" | "ERROR_GROUP_REPORTS_PER_MINUTE">;

/** The per-user and per-group limits of error reports (one-minute windows). */
export function intakeLimits(cfg: IntakeConfig = config): { user: RateLimit; group: RateLimit } {
  return {
    user: { scope: "error-report-user", limit: cfg.ERROR_REPORTS_PER_MINUTE, windowSeconds: 60 },
    group: { scope: "error-report-group", limit: cfg.ERROR_GROUP_REPORTS_PER_MINUTE, windowSeconds: 60 },
  };
}

export type IntakeOutcome = StoreStatus | "rate_limited_user" | "rate_limited_group";

/**
 * The one log line of a report: scrubbed facts only (the message is already scrubbed and is cut
 * short; no stack, no context values, the URL as scheme and host).
 */
export function reportLogFields(
  report: ScrubbedReport,
  fingerprint: Fingerprint,
  outcome: IntakeOutcome,
  extra: { userId: string; requestId: string; alert?: AlertOutcome },
): Record<string, unknown> {
  return {
    report_id: report.id,
    group_id: fingerprint.groupId,
    fingerprint: fingerprint.source,
    outcome,
    level: report.level,
    message: truncate(report.message, 300),
    extension_version: report.extension_version,
    browser: report.browser,
    os: report.os,
    url: report.url,
    context_keys: report.context ? Object.keys(report.context) : undefined,
    dropped_fields: report.dropped_fields,
    user_id: extra.userId,
    request_id: extra.requestId,
    alert: extra.alert,
  };
}

/**
 * Takes one error report from the extension: scrubs it (before anything else sees it), computes
 * its group, applies the per-user then the per-group rate limit (a refusal is a 429 with
 * `Retry-After` and counts as `dropped` on the group, unless the report is a resend of one already
 * stored, which answers "duplicate" like any resend), stores and counts it exactly once, raises
 * an alert when due (never failing the intake), and writes one structured log line.
 */
export async function intakeReport(
  user: AuthUser,
  body: ErrorReportBody,
  now: Date,
  requestId: string,
  cfg: IntakeConfig = config,
): Promise<IntakeResult> {
  const report = scrubReport(body);
  const fingerprint = fingerprintOf(report, body.fingerprint);
  const limits = intakeLimits(cfg);
  const logExtra = { userId: user.id, requestId };

  for (const [which, rule, id] of [
    ["user", limits.user, user.id],
    ["group", limits.group, fingerprint.groupId],
  ] as const) {
    const limit = await consumeRateLimit(rule, id, now);
    if (!limit.allowed) {
      // A resend of a report we already hold is a no-op, limit or not: answer as for any resend.
      const stored = await readSample(user.id, report.id);
      if (stored) {
        log(
          "info",
          "error report",
          reportLogFields(report, { ...fingerprint, groupId: stored.group_id }, "duplicate", logExtra),
        );
        return {
          id: report.id,
          group_id: stored.group_id,
          status: "duplicate",
          fingerprint: fingerprint.source,
        };
      }
      await recordDropped(fingerprint.groupId, now);
      log("info", "error report", reportLogFields(report, fingerprint, `rate_limited_${which}`, logExtra));
      throw rateLimitedError(
        limit,
        which === "user"
          ? `Too many error reports: at most ${rule.limit} a minute`
          : `Too many reports of this error: at most ${rule.limit} a minute`,
      );
    }
  }

  const stored = await storeReport(
    user.id,
    report,
    fingerprint.groupId,
    errorTypeOf(report.message, report.stack),
    now,
  );
  const alert = stored.group ? await maybeAlert(report, stored.group, now) : undefined;
  const groupFingerprint = { ...fingerprint, groupId: stored.groupId };
  log(
    "info",
    "error report",
    reportLogFields(report, groupFingerprint, stored.status, { ...logExtra, alert }),
  );
  return {
    id: report.id,
    group_id: stored.groupId,
    status: stored.status === "duplicate" ? "duplicate" : "stored",
    fingerprint: fingerprint.source,
  };
}
