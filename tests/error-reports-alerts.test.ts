import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeEach, describe, expect, it } from "vitest";

/**
 * Alert delivery against a real local HTTP receiver. The configuration is parsed when lib/config
 * is first imported (tests/helpers.ts imports it too), so this file sets the webhook URL (and a
 * short timeout and threshold) first and imports everything else afterwards, dynamically.
 */
interface Delivery {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: the JSON the webhook received
  body: any;
}
const deliveries: Delivery[] = [];
let answer: "ok" | "fail" | "hang" = "ok";
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  let data = "";
  req.on("data", (chunk) => {
    data += chunk;
  });
  req.on("end", () => {
    if (answer === "hang") return; // never answers: the sender's timeout must cut it off
    const status = answer === "ok" ? 200 : 500;
    deliveries.push({ status, body: JSON.parse(data) });
    res.statusCode = status;
    res.end(answer);
  });
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
process.env.ALERT_WEBHOOK_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/errors`;
process.env.ALERT_TIMEOUT_MS = "300";
process.env.ERROR_ALERT_THRESHOLD = "5";

const { sampleReport } = await import("./error-reports-fixtures.ts");
const { eventFrom, freshUser, invoke } = await import("./helpers.ts");
const { intakeReport } = await import("#lib/error-reports/intake");
const { ErrorReportBody } = await import("#lib/error-reports/schema");
const { readGroup } = await import("#lib/error-reports/store");
const { handler: reportHandler } = await import("../functions/errors-report.ts");

const noLimits = { ERROR_REPORTS_PER_MINUTE: 100_000, ERROR_GROUP_REPORTS_PER_MINUTE: 100_000 };
const at = (iso: string, minutes = 0) => new Date(Date.parse(iso) + minutes * 60_000);
const alertsOf = (groupId: string) =>
  deliveries.filter((d) => JSON.stringify(d.body).includes(groupId) && d.status === 200);

/** Sends one report of an error (a fresh id each time) at a chosen instant, past the rate limits. */
// biome-ignore lint/suspicious/noExplicitAny: a JSON body
async function report(error: Record<string, any>, now: Date, changes: Record<string, unknown> = {}) {
  const body = ErrorReportBody.parse({ ...error, id: `r-${crypto.randomUUID()}`, ...changes });
  return intakeReport({ id: `u-${crypto.randomUUID()}`, roles: [] }, body, now, "req", noLimits);
}

beforeEach(() => {
  answer = "ok";
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe("error alerts", () => {
  it("sends a new group's first report to the webhook as Slack-compatible JSON, scrubbed", async () => {
    const user = await freshUser();
    const error = sampleReport({ message: "TypeError: composer gone for jane@example.com" });
    const res = await invoke(reportHandler, eventFrom("errorsReport", { token: user.token, body: error }));
    expect(res.status).toBe(202);
    const alerts = alertsOf(res.body.group_id);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.body).toEqual({
      text: expect.stringMatching(
        /^\[local\] ERROR TypeError: TypeError: composer gone for \[email\] \(new group; 1 total, 1 today\)$/,
      ),
      blocks: [
        { type: "section", text: { type: "mrkdwn", text: expect.any(String) } },
        { type: "section", text: { type: "mrkdwn", text: expect.stringContaining(res.body.group_id) } },
        { type: "section", text: { type: "mrkdwn", text: expect.stringContaining("at upgradePrompt") } },
      ],
    });
    expect(JSON.stringify(alerts[0]?.body)).not.toContain("jane@example.com");
    expect(await readGroup(res.body.group_id)).toMatchObject({ last_alert_at: expect.any(Number) });
  });

  it("alerts at most once per group per hour, whatever the reasons", async () => {
    const error = sampleReport();
    const t0 = "2026-11-20T08:00:00Z";
    const first = await report(error, at(t0));
    expect(alertsOf(first.group_id)).toHaveLength(1); // new group
    await report(error, at(t0, 10), { level: "critical" });
    await report(error, at(t0, 59), { level: "critical" });
    expect(alertsOf(first.group_id)).toHaveLength(1);
    await report(error, at(t0, 61), { level: "critical" });
    const alerts = alertsOf(first.group_id);
    expect(alerts).toHaveLength(2);
    expect(alerts[1]?.body.text).toMatch(/^\[local\] CRITICAL .*\(critical; 4 total, 4 today\)$/);
  });

  it("raises one alert when many reports open a new group at once", async () => {
    const error = sampleReport();
    const now = at("2026-11-21T08:00:00Z");
    const results = await Promise.all(
      Array.from({ length: 20 }, () => report(error, now, { level: "critical" })),
    );
    expect(new Set(results.map((r) => r.group_id)).size).toBe(1);
    expect(alertsOf(results[0]?.group_id ?? "")).toHaveLength(1);
    expect(await readGroup(results[0]?.group_id ?? "")).toMatchObject({ count: 20 });
  });

  it("alerts when a group reaches the day's threshold (5 here)", async () => {
    const error = sampleReport();
    const t0 = "2026-11-22T08:00:00Z";
    const first = await report(error, at(t0));
    for (let i = 0; i < 3; i++) await report(error, at(t0, 1));
    expect(alertsOf(first.group_id)).toHaveLength(1);
    await report(error, at(t0, 90)); // the 5th of the day, after the cooldown
    const alerts = alertsOf(first.group_id);
    expect(alerts).toHaveLength(2);
    expect(alerts[1]?.body.text).toContain("(threshold; 5 total, 5 today)");
    await report(error, at(t0, 200)); // the 6th crosses nothing
    expect(alertsOf(first.group_id)).toHaveLength(2);
  });

  it("never fails the intake when delivery fails, and retries on the group's next report", async () => {
    const error = sampleReport();
    const t0 = "2026-11-23T08:00:00Z";
    answer = "fail";
    const first = await report(error, at(t0));
    expect(first.status).toBe("stored");
    expect(deliveries.filter((d) => JSON.stringify(d.body).includes(first.group_id))).toHaveLength(1);
    expect(alertsOf(first.group_id)).toHaveLength(0);
    const pending = await readGroup(first.group_id);
    expect(pending?.alert_pending).toBe("new_group");
    expect(pending?.last_alert_at).toBeUndefined();

    answer = "ok";
    await report(error, at(t0, 1));
    const alerts = alertsOf(first.group_id);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.body.text).toContain("(new group, retry; 2 total, 2 today)");
    const after = await readGroup(first.group_id);
    expect(after?.alert_pending).toBeUndefined();
    expect(after?.last_alert_at).toBe(at(t0, 1).getTime());
    await report(error, at(t0, 2));
    expect(alertsOf(first.group_id)).toHaveLength(1);
  });

  it("cuts a hanging webhook off at ALERT_TIMEOUT_MS and keeps the alert pending", async () => {
    const error = sampleReport();
    answer = "hang";
    const started = performance.now();
    const result = await report(error, at("2026-11-24T08:00:00Z"));
    const elapsed = performance.now() - started;
    expect(result.status).toBe("stored");
    expect(elapsed).toBeLessThan(1_500);
    expect((await readGroup(result.group_id))?.alert_pending).toBe("new_group");
  });
});
