import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { type Config, config } from "#lib/config";
import type { ScrubbedReport } from "#lib/error-reports/schema";
import { claimAlert, type GroupState, releaseAlert } from "#lib/error-reports/store";
import { describeError, log } from "#lib/log";

/** Why a group raises an alert. `retry`: an earlier alert of the group could not be delivered. */
export type AlertReason = "critical" | "new_group" | "threshold" | "retry";
const REASONS: readonly string[] = ["critical", "new_group", "threshold", "retry"];
const isReason = (value: string): value is AlertReason => REASONS.includes(value) && value !== "retry";

/** What an alert says: facts about the group and its latest (scrubbed) sample, nothing else. */
export interface Alert {
  stage: string;
  group_id: string;
  reasons: AlertReason[];
  level: string;
  error_type: string;
  title: string;
  count: number;
  day_count: number;
  first_seen: string;
  last_seen: string;
  versions: string[];
  sample: GroupState["sample"];
}

export type AlertOutcome = "none" | "suppressed" | "sent" | "failed";

type AlertConfig = Pick<
  Config,
  | "STAGE"
  | "ALERT_WEBHOOK_URL"
  | "ALERT_SNS_TOPIC_ARN"
  | "ALERT_SNS_ENDPOINT"
  | "AWS_REGION"
  | "ALERT_TIMEOUT_MS"
  | "ERROR_ALERT_THRESHOLD"
  | "ERROR_ALERT_COOLDOWN_SECONDS"
>;

/**
 * The reasons this report gives its group for an alert: a `critical` report, the group's first
 * report (`count` is exactly 1 once, because counting is exactly-once), the group's count for the
 * day reaching the threshold (exactly one report sees the day count equal it), or a pending retry
 * (an undelivered alert, whose reasons are carried over).
 */
export function alertReasons(
  report: ScrubbedReport,
  group: GroupState,
  cfg: Pick<Config, "ERROR_ALERT_THRESHOLD"> = config,
): AlertReason[] {
  const reasons: AlertReason[] = [];
  if (report.level === "critical") reasons.push("critical");
  if (group.count === 1) reasons.push("new_group");
  if (group.day_count === cfg.ERROR_ALERT_THRESHOLD) reasons.push("threshold");
  if (group.alert_pending) {
    // The reasons of the alert that could not be delivered come along with this one.
    for (const pending of group.alert_pending.split(",")) {
      if (isReason(pending) && !reasons.includes(pending)) reasons.push(pending);
    }
    reasons.push("retry");
  }
  return reasons;
}

/** A Slack-compatible incoming-webhook body (`text` plus blocks), readable in any chat tool. */
export function slackMessage(alert: Alert): { text: string; blocks: unknown[] } {
  const why = alert.reasons.map((r) => r.replace("_", " ")).join(", ");
  const text = `[${alert.stage}] ${alert.level.toUpperCase()} ${alert.error_type}: ${alert.title} (${why}; ${alert.count} total, ${alert.day_count} today)`;
  const fields = [
    `*Group:* \`${alert.group_id}\``,
    `*Count:* ${alert.count} total, ${alert.day_count} today`,
    `*First / last seen:* ${alert.first_seen} / ${alert.last_seen}`,
    `*Versions:* ${alert.versions.join(", ")}`,
    `*Sample:* ${alert.sample.browser} · ${alert.sample.os} · v${alert.sample.extension_version}`,
  ];
  return {
    text,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: `*${text}*` } },
      { type: "section", text: { type: "mrkdwn", text: fields.join("\n") } },
      ...(alert.sample.stack_head
        ? [{ type: "section", text: { type: "mrkdwn", text: `\`\`\`${alert.sample.stack_head}\`\`\`` } }]
        : []),
    ],
  };
}

/**
 * Sends an alert to every configured sink, concurrently, each within ALERT_TIMEOUT_MS: the webhook
 * (POST, Slack-compatible JSON) and the SNS topic (Publish, subject and the same text). Every alert
 * is also one `error alert` log line. Returns false when any sink failed, so the caller keeps the
 * alert pending and the group's next report tries again.
 */
export async function deliverAlert(alert: Alert, cfg: AlertConfig = config): Promise<boolean> {
  log("warn", "error alert", { ...alert, sns_topic: cfg.ALERT_SNS_TOPIC_ARN });
  const sinks: [string, () => Promise<void>][] = [];
  const webhook = cfg.ALERT_WEBHOOK_URL;
  if (webhook) sinks.push(["webhook", () => postWebhook(webhook, alert, cfg.ALERT_TIMEOUT_MS)]);
  const topic = cfg.ALERT_SNS_TOPIC_ARN;
  if (topic) sinks.push(["sns", () => publishSns(topic, alert, cfg)]);
  const results = await Promise.all(
    sinks.map(async ([sink, send]) => {
      try {
        await send();
        return true;
      } catch (error) {
        log("warn", "error alert delivery failed", {
          group_id: alert.group_id,
          sink,
          ...describeError(error),
        });
        return false;
      }
    }),
  );
  return results.every(Boolean);
}

async function postWebhook(url: string, alert: Alert, timeoutMs: number): Promise<void> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(slackMessage(alert)),
    signal: AbortSignal.timeout(timeoutMs),
  });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`webhook answered ${response.status}`);
}

const snsClients = new Map<string, SNSClient>();

/** One SNS client per endpoint, created on the first alert (most invocations never alert). */
function snsClient(cfg: AlertConfig): SNSClient {
  const key = cfg.ALERT_SNS_ENDPOINT ?? "";
  let client = snsClients.get(key);
  if (!client) {
    client = new SNSClient({
      region: cfg.AWS_REGION,
      endpoint: cfg.ALERT_SNS_ENDPOINT,
      maxAttempts: 1,
      credentials: cfg.ALERT_SNS_ENDPOINT ? { accessKeyId: "local", secretAccessKey: "local" } : undefined,
      requestHandler: new NodeHttpHandler({
        connectionTimeout: cfg.ALERT_TIMEOUT_MS,
        requestTimeout: cfg.ALERT_TIMEOUT_MS,
        throwOnRequestTimeout: true,
      }),
    });
    snsClients.set(key, client);
  }
  return client;
}

async function publishSns(topicArn: string, alert: Alert, cfg: AlertConfig): Promise<void> {
  const message = slackMessage(alert);
  await snsClient(cfg).send(
    new PublishCommand({
      TopicArn: topicArn,
      // SNS subjects are ASCII, at most 100 characters, with no line breaks.
      Subject: message.text.replace(/[^\x20-\x7e]/g, " ").slice(0, 100),
      Message: JSON.stringify({ ...alert, text: message.text }),
    }),
    { abortSignal: AbortSignal.timeout(cfg.ALERT_TIMEOUT_MS) },
  );
}

/**
 * Raises the group's alert when the report gives a reason and the group has not alerted within
 * the cooldown. The gate is a conditional update of `last_alert_at` on the group, so concurrent
 * reports raise at most one alert. When delivery fails the gate is released and the reason left
 * pending on the group: the next report of the group tries again. Never throws: alerting must not
 * fail the intake.
 */
export async function maybeAlert(
  report: ScrubbedReport,
  group: GroupState,
  now: Date,
  cfg: AlertConfig = config,
): Promise<AlertOutcome> {
  const reasons = alertReasons(report, group, cfg);
  if (reasons.length === 0) return "none";
  const cooldownMs = cfg.ERROR_ALERT_COOLDOWN_SECONDS * 1000;
  if (group.last_alert_at !== undefined && now.getTime() - group.last_alert_at < cooldownMs)
    return "suppressed";
  const reason = reasons.join(",");
  try {
    if (!(await claimAlert(group.group_id, now, cfg.ERROR_ALERT_COOLDOWN_SECONDS, reason)))
      return "suppressed";
    const alert: Alert = {
      stage: cfg.STAGE,
      group_id: group.group_id,
      reasons,
      level: report.level,
      error_type: group.error_type,
      title: group.title,
      count: group.count,
      day_count: group.day_count,
      first_seen: group.first_seen,
      last_seen: group.last_seen,
      versions: group.versions,
      sample: group.sample,
    };
    if (await deliverAlert(alert, cfg)) return "sent";
    await releaseAlert(group.group_id, now, group.last_alert_at, reason);
    return "failed";
  } catch (error) {
    log("warn", "error alert failed", { group_id: group.group_id, ...describeError(error) });
    return "failed";
  }
}
