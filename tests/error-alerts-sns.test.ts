import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { config } from "#lib/config";
import { type Alert, deliverAlert } from "#lib/error-reports/alerts";

/**
 * The SNS sink against a local HTTP endpoint that speaks SNS's query protocol: the real AWS SDK
 * client signs and sends a real Publish; the receiver checks it and answers like SNS.
 */
const TOPIC = "arn:aws:sns:us-east-1:123456789012:extension-backend-test-alerts";
const received: URLSearchParams[] = [];
let failNext = false;
let server: Server;
let endpoint: string;

const alert: Alert = {
  stage: "test",
  group_id: "g-123",
  reasons: ["critical"],
  level: "critical",
  error_type: "TypeError",
  title: "Cannot read properties of undefined",
  count: 1,
  day_count: 1,
  first_seen: "2026-12-03T12:00:00.000Z",
  last_seen: "2026-12-03T12:00:00.000Z",
  versions: ["1.4.2"],
  sample: {
    report_id: "r-1",
    level: "critical",
    message: "Cannot read properties of undefined",
    extension_version: "1.4.2",
    browser: "Chrome 131",
    os: "Windows 11",
  } as Alert["sample"],
};

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      if (failNext) {
        failNext = false;
        res
          .writeHead(500, { "content-type": "text/xml" })
          .end(
            "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code><Message>boom</Message></Error><RequestId>x</RequestId></ErrorResponse>",
          );
        return;
      }
      received.push(new URLSearchParams(body));
      res
        .writeHead(200, { "content-type": "text/xml" })
        .end(
          '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>',
        );
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("alerts to an SNS topic", () => {
  const cfg = () => ({
    ...config,
    ALERT_WEBHOOK_URL: undefined,
    ALERT_SNS_TOPIC_ARN: TOPIC,
    ALERT_SNS_ENDPOINT: endpoint,
  });

  it("publishes the alert to the configured topic", async () => {
    expect(await deliverAlert(alert, cfg())).toBe(true);
    const publish = received.at(-1);
    expect(publish?.get("Action")).toBe("Publish");
    expect(publish?.get("TopicArn")).toBe(TOPIC);
    expect(publish?.get("Subject")).toMatch(
      /^\[test\] CRITICAL TypeError: Cannot read properties of undefined/,
    );
    expect(JSON.parse(publish?.get("Message") ?? "{}")).toMatchObject({
      group_id: "g-123",
      reasons: ["critical"],
    });
  });

  it("reports a failed publish as undelivered (so the next report retries), without throwing", async () => {
    failNext = true;
    expect(await deliverAlert(alert, cfg())).toBe(false);
  });

  it("sends nothing to SNS when no topic is configured", async () => {
    const before = received.length;
    expect(await deliverAlert(alert, { ...cfg(), ALERT_SNS_TOPIC_ARN: undefined })).toBe(true);
    expect(received.length).toBe(before);
  });
});
