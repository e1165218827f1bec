import { intakeReport } from "#lib/error-reports/intake";
import { ErrorReportBody, MAX_REPORT_BYTES } from "#lib/error-reports/schema";
import { Reply, route } from "#lib/http";

/** POST /system/errors/report: one error report from the extension; 202 with its id and group. */
export const handler = route(
  { auth: true, body: ErrorReportBody, maxBodyBytes: MAX_REPORT_BYTES },
  async ({ user, body, now, requestId }) => new Reply(202, await intakeReport(user, body, now, requestId)),
);
