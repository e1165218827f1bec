import { afterEach, describe, expect, it } from "vitest";
import { dynamo } from "#lib/db/client";
import { keys } from "#lib/db/keys";
import { intakeReport, reportLogFields } from "#lib/error-reports/intake";
import { ErrorReportBody, TRUNCATION_MARKER } from "#lib/error-reports/schema";
import { scrubReport } from "#lib/error-reports/scrub";
import { countingTag, RECOVERY_AFTER_MS, readGroup, readSample, storeReport } from "#lib/error-reports/store";
import { consumeRateLimit } from "#lib/rate-limit";
import { handler as listHandler } from "../functions/errors-list.ts";
import { handler as reportHandler } from "../functions/errors-report.ts";
import { awayFromMinuteEnd, sampleReport, uniqueWord } from "./error-reports-fixtures.ts";
import { eventFrom, freshUser, invoke } from "./helpers.ts";

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies
const send = (token: string, body: any) => invoke(reportHandler, eventFrom("errorsReport", { token, body }));
const today = () => new Date().toISOString().slice(0, 10);

describe("POST /system/errors/report: storing", () => {
  it("answers 202 with the id and group, and stores a scrubbed sample and its group", async () => {
    const user = await freshUser();
    const report = sampleReport({
      message: `Upgrade failed for jane@example.com (Bearer abc.def.ghi) in ${uniqueWord()}`,
      context: { site: "chatgpt", prompt: "my private prompt", composer: "textarea" },
    });
    const res = await send(user.token, report);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      id: report.id,
      group_id: expect.stringMatching(/^[0-9a-f]{24}$/),
      status: "stored",
      fingerprint: "computed",
    });

    const sample = await readSample(user.id, report.id);
    expect(sample).toMatchObject({
      user_id: user.id,
      group_id: res.body.group_id,
      counted: true,
      report: {
        id: report.id,
        level: "error",
        message: expect.stringContaining("Upgrade failed for [email] (Bearer [redacted]) in"),
        url: "https://chat.openai.com",
        context: { site: "chatgpt", composer: "textarea" },
        dropped_fields: ["prompt"],
      },
    });
    expect(JSON.stringify(sample)).not.toMatch(/jane@example.com|my private prompt|abc\.def\.ghi|6f1c2a4e/);
    const ttlDays = ((sample?.expires_at ?? 0) - Date.now() / 1000) / 86_400;
    expect(ttlDays).toBeGreaterThan(29.9);
    expect(ttlDays).toBeLessThanOrEqual(30);

    expect(await readGroup(res.body.group_id)).toMatchObject({
      group_id: res.body.group_id,
      count: 1,
      day_count: 1,
      error_type: "TypeError",
      levels: ["error"],
      versions: ["1.4.2"],
      dropped: 0,
      sample: { report_id: report.id, level: "error", url: "https://chat.openai.com" },
    });
  });

  it("groups the same error from two versions at other line numbers into one group", async () => {
    const user = await freshUser();
    const first = sampleReport({ extension_version: "1.4.2" });
    const second = {
      ...first,
      id: `r-${crypto.randomUUID()}`,
      extension_version: "1.5.0",
      // Same error: other line and column numbers, another install's extension id, a new bundle hash.
      stack: first.stack
        .replace(/:1412:27/, ":1533:31")
        .replace(/:980:11/, ":1011:9")
        .replace(/content\.js:77:5/, "content.9f8e7d6c.js:80:5")
        .replaceAll("abcdefghijklmnopabcdefghijklmnop", "ponmlkjihgfedcbaponmlkjihgfedcba"),
      level: "warning",
    };
    const a = await send(user.token, first);
    const b = await send(user.token, second);
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.body.group_id).toBe(a.body.group_id);
    expect(await readGroup(a.body.group_id)).toMatchObject({
      count: 2,
      levels: ["error", "warning"],
      versions: ["1.4.2", "1.5.0"],
    });
  });

  it("normalises numbers and ids in the message, but keeps different errors apart", async () => {
    const user = await freshUser();
    const word = uniqueWord();
    const a = await send(
      user.token,
      sampleReport({
        message: `Timeout ${word} after 1500 ms for 6f1c2a4e-0d7b-4b59-9c1e-2f4b7a8d9e10`,
        stack: undefined,
      }),
    );
    const b = await send(
      user.token,
      sampleReport({
        message: `Timeout ${word} after 3000 ms for 0a1b2c3d-0d7b-4b59-9c1e-2f4b7a8d9e11`,
        stack: undefined,
      }),
    );
    const c = await send(
      user.token,
      sampleReport({ message: `RangeError: Timeout ${word} after 3000 ms`, stack: undefined }),
    );
    expect(b.body.group_id).toBe(a.body.group_id);
    expect(c.body.group_id).not.toBe(a.body.group_id);
  });

  it("groups by the client's fingerprint when one is sent", async () => {
    const user = await freshUser();
    const fingerprint = `composer-missing-${uniqueWord()}`;
    const a = await send(user.token, sampleReport({ fingerprint }));
    const b = await send(user.token, sampleReport({ fingerprint, message: "something else entirely" }));
    expect(a.body).toMatchObject({ status: "stored", fingerprint: "client" });
    expect(b.body.group_id).toBe(a.body.group_id);
  });

  it("truncates long fields with a marker instead of refusing the report", async () => {
    const user = await freshUser();
    const report = sampleReport({
      message: `${uniqueWord()} ${"x".repeat(5_000)}`,
      browser: "B".repeat(400),
    });
    const res = await send(user.token, report);
    expect(res.status).toBe(202);
    const sample = await readSample(user.id, report.id);
    expect(sample?.report.message).toHaveLength(2_000);
    expect(sample?.report.message.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(sample?.report.browser).toHaveLength(200);
  });
});

describe("POST /system/errors/report: exactly once", () => {
  it("stores and counts a report once under 50 concurrent resends", async () => {
    const user = await freshUser();
    const report = sampleReport();
    const answers = await Promise.all(Array.from({ length: 50 }, () => send(user.token, report)));
    // 30 a minute pass the user's limit; a refused resend answers "duplicate" when the report is
    // already stored, else 429 (the client's next resend then gets "duplicate").
    const stored = answers.filter((a) => a.status === 202 && a.body.status === "stored");
    const duplicates = answers.filter((a) => a.status === 202 && a.body.status === "duplicate");
    const refused = answers.filter((a) => a.status === 429);
    expect(stored).toHaveLength(1);
    expect(duplicates.length + refused.length).toBe(49);
    expect(duplicates.length).toBeGreaterThanOrEqual(29);
    expect(new Set([...stored, ...duplicates].map((a) => a.body.group_id)).size).toBe(1);
    const groupId = stored[0]?.body.group_id;
    const group = await readGroup(groupId);
    expect(group).toMatchObject({ count: 1, day_count: 1 });
    // A refusal that came before the group existed has no group to be recorded on.
    expect(group?.dropped).toBeLessThanOrEqual(refused.length);

    // 50 more concurrent resends, now that it is stored: every one is a 202 "duplicate", limit or not.
    const again = await Promise.all(Array.from({ length: 50 }, () => send(user.token, report)));
    expect(again.map((a) => [a.status, a.body.status, a.body.group_id])).toEqual(
      Array(50).fill([202, "duplicate", groupId]),
    );
    expect(await readGroup(groupId)).toMatchObject({ count: 1, day_count: 1 });
  });

  it("stores and counts once under 50 concurrent resends when no limit is in the way", async () => {
    const user = await freshUser();
    const body = ErrorReportBody.parse(sampleReport());
    const cfg = { ERROR_REPORTS_PER_MINUTE: 1_000, ERROR_GROUP_REPORTS_PER_MINUTE: 1_000 };
    const now = new Date();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        intakeReport({ id: user.id, roles: [] }, body, now, `req-${i}`, cfg),
      ),
    );
    expect(results.filter((r) => r.status === "stored")).toHaveLength(1);
    expect(results.filter((r) => r.status === "duplicate")).toHaveLength(49);
    expect(await readGroup(results[0]?.group_id ?? "")).toMatchObject({ count: 1, day_count: 1, dropped: 0 });
  });

  describe("after a crash between the writes", () => {
    const faultName = "errorReportsCrash";
    afterEach(() => {
      dynamo.middlewareStack.remove(faultName);
    });

    /** Makes the next UpdateItem matching `when` fail, as if the Lambda had died there. */
    function crashOn(when: (input: { Key?: unknown; UpdateExpression?: string }) => boolean) {
      let fired = false;
      dynamo.middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as Parameters<typeof when>[0];
          if (!fired && context.commandName === "UpdateItemCommand" && when(input)) {
            fired = true;
            throw new Error("simulated crash");
          }
          return next(args);
        },
        { step: "initialize", name: faultName, override: true },
      );
    }

    async function stored(t0: Date) {
      const user = await freshUser();
      const body = ErrorReportBody.parse(sampleReport());
      const report = scrubReport(body);
      const groupId = `crash${uniqueWord(19)}`;
      return {
        user,
        report,
        groupId,
        store: (now: Date) => storeReport(user.id, report, groupId, "TypeError", now),
        t0,
      };
    }

    it("finishes the count once when the crash came before counting", async () => {
      const t0 = new Date();
      const { user, report, groupId, store } = await stored(t0);
      crashOn((input) => JSON.stringify(input.Key).includes("ERRGROUP#"));
      await expect(store(t0)).rejects.toThrow("simulated crash");
      expect(await readSample(user.id, report.id)).toMatchObject({ counted: false });
      expect(await readGroup(groupId)).toBeUndefined();

      // A resend while the first attempt may still be running leaves it alone.
      expect(await store(new Date(t0.getTime() + 1_000))).toEqual({ status: "duplicate", groupId });
      // A resend after the recovery delay finishes the job, once, even when several race.
      const later = new Date(t0.getTime() + RECOVERY_AFTER_MS + 1_000);
      const results = await Promise.all(Array.from({ length: 10 }, () => store(later)));
      expect(results.filter((r) => r.status === "recovered")).toHaveLength(1);
      expect(await readGroup(groupId)).toMatchObject({ count: 1 });
      expect(await readSample(user.id, report.id)).toMatchObject({ counted: true });
      expect(await store(new Date(later.getTime() + 120_000))).toEqual({ status: "duplicate", groupId });
      expect((await readGroup(groupId))?.count).toBe(1);
    });

    it("does not count twice when the crash came after counting, before marking the sample", async () => {
      const t0 = new Date();
      const { user, report, groupId, store } = await stored(t0);
      crashOn((input) => Boolean(input.UpdateExpression?.includes("counted")));
      await expect(store(t0)).rejects.toThrow("simulated crash");
      expect(await readSample(user.id, report.id)).toMatchObject({ counted: false });
      expect(await readGroup(groupId)).toMatchObject({ count: 1 });

      const later = new Date(t0.getTime() + RECOVERY_AFTER_MS + 1_000);
      const results = await Promise.all(Array.from({ length: 10 }, () => store(later)));
      expect(results.filter((r) => r.status === "recovered")).toHaveLength(1);
      expect(await readGroup(groupId)).toMatchObject({ count: 1 });
      expect(await readSample(user.id, report.id)).toMatchObject({ counted: true });
      // The tag that made the repeat safe is gone again.
      const { GetItemCommand } = await import("@aws-sdk/client-dynamodb");
      const raw = await dynamo.send(
        new GetItemCommand({
          TableName: "extension-backend-local",
          Key: { PK: { S: keys.errorGroup(groupId).PK }, SK: { S: "GROUP" } },
          ConsistentRead: true,
        }),
      );
      expect(raw.Item?.counting?.SS ?? []).not.toContain(countingTag(keys.errorReport(user.id, report.id)));
    });
  });
});

describe("POST /system/errors/report: rate limits", () => {
  it("answers 429 with Retry-After past the per-user limit and records the drop on the group", async () => {
    await awayFromMinuteEnd();
    const user = await freshUser();
    const report = sampleReport();
    const first = await send(user.token, report);
    expect(first.status).toBe(202);
    // Use up the rest of this minute's 30 reports.
    await consumeRateLimit(
      { scope: "error-report-user", limit: 30, windowSeconds: 60 },
      user.id,
      new Date(),
      29,
    );

    const refused = await send(user.token, { ...report, id: `r-${crypto.randomUUID()}` });
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      detail: "Too many error reports: at most 30 a minute",
      code: "RATE_LIMITED",
      request_id: expect.any(String),
      limit: 30,
      retry_after_seconds: expect.any(Number),
    });
    const retryAfter = Number(refused.headers["Retry-After"]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await readGroup(first.body.group_id)).toMatchObject({ count: 1, dropped: 1 });

    // Another user is not affected.
    const other = await freshUser();
    expect((await send(other.token, { ...report, id: `r-${crypto.randomUUID()}` })).status).toBe(202);
  });

  it("limits one group across all users and counts what it dropped", async () => {
    const now = new Date("2026-12-03T12:00:10Z");
    const cfg = { ERROR_REPORTS_PER_MINUTE: 100, ERROR_GROUP_REPORTS_PER_MINUTE: 3 };
    const report = sampleReport();
    const results = [];
    for (let i = 0; i < 5; i++) {
      const user = await freshUser();
      const body = ErrorReportBody.parse({ ...report, id: `r-${crypto.randomUUID()}` });
      results.push(
        await intakeReport({ id: user.id, roles: [] }, body, now, "req-1", cfg).then(
          (r) => r.group_id,
          (e) => e,
        ),
      );
    }
    const groupId = results[0];
    expect(results.slice(0, 3)).toEqual([groupId, groupId, groupId]);
    expect(results[3]).toMatchObject({
      status: 429,
      message: "Too many reports of this error: at most 3 a minute",
      headers: { "Retry-After": "50" },
    });
    expect(await readGroup(groupId)).toMatchObject({ count: 3, dropped: 2 });
  });
});

describe("POST /system/errors/report: refusals", () => {
  it("needs a token", async () => {
    const res = await invoke(reportHandler, eventFrom("errorsReport", { token: null }));
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ code: "UNAUTHORIZED" });
  });

  it("refuses unknown fields (strict schema), naming the field", async () => {
    const user = await freshUser();
    const res = await send(user.token, sampleReport({ prompt: "my private prompt" }));
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: "VALIDATION_FAILED" });
    expect(res.body.detail).toContain("prompt");
    expect(JSON.stringify(res.body)).not.toContain("my private prompt");
  });

  it.each([
    ["a bad level", { level: "fatal" }, "body.level"],
    ["a missing message", { message: undefined }, "body.message"],
    ["a bad timestamp", { timestamp: "yesterday" }, "body.timestamp"],
    ["a short id", { id: "x" }, "body.id"],
    ["an id with odd characters", { id: "report/../../x" }, "body.id"],
    ["a context that is not a string map", { context: { n: 1 } }, "body.context.n"],
  ])("refuses %s with 422", async (_name, change, path) => {
    const user = await freshUser();
    const res = await send(user.token, sampleReport(change));
    expect(res.status).toBe(422);
    expect(res.body.detail).toContain(path);
  });

  it("refuses a body over 64 KB with 413 before reading it", async () => {
    const user = await freshUser();
    const res = await send(user.token, sampleReport({ stack: "y".repeat(70_000) }));
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ code: "PAYLOAD_TOO_LARGE", max_bytes: 65_536 });
  });

  it("refuses invalid JSON with 400", async () => {
    const user = await freshUser();
    const res = await invoke(
      reportHandler,
      eventFrom("errorsReport", { token: user.token, rawBody: "{nope" }),
    );
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("INVALID_JSON");
  });
});

describe("GET /system/errors", () => {
  it("lists the top groups of the period with counts and samples, for admins", async () => {
    const user = await freshUser();
    const admin = await freshUser(undefined, ["admin"]);
    const big = sampleReport();
    const small = sampleReport();
    for (let i = 0; i < 4; i++) await send(user.token, { ...big, id: `r-${crypto.randomUUID()}` });
    const smallRes = await send(user.token, small);
    const bigGroup = (await send(user.token, { ...big, id: `r-${crypto.randomUUID()}` })).body.group_id;

    const res = await invoke(
      listHandler,
      eventFrom("errorsList", { token: admin.token, query: { days: "1", limit: "100", samples: "2" } }),
    );
    expect(res.status).toBe(200);
    expect(res.body.period).toEqual({ days: 1, from: today(), to: today() });
    const ids = res.body.groups.map((g: { group_id: string }) => g.group_id);
    expect(ids.indexOf(bigGroup)).toBeLessThan(ids.indexOf(smallRes.body.group_id));
    const listed = res.body.groups.find((g: { group_id: string }) => g.group_id === bigGroup);
    expect(listed).toMatchObject({
      group_id: bigGroup,
      error_type: "TypeError",
      count_in_period: 5,
      count_total: 5,
      dropped: 0,
      levels: ["error"],
      versions: ["1.4.2"],
      latest_sample: { level: "error", url: "https://chat.openai.com" },
    });
    expect(listed.samples).toHaveLength(2);
    expect(listed.samples[0]).toMatchObject({ report: { level: "error", url: "https://chat.openai.com" } });
    const counts = res.body.groups.map((g: { count_in_period: number }) => g.count_in_period);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
  });

  it("refuses a user token with 403", async () => {
    const user = await freshUser();
    const res = await invoke(listHandler, eventFrom("errorsList", { token: user.token }));
    expect(res.status).toBe(403);
    expect(res.body).toEqual({
      detail: "This route needs the admin role",
      code: "FORBIDDEN",
      request_id: expect.any(String),
    });
  });

  it("refuses no token with 401 and a bad period with 422", async () => {
    expect((await invoke(listHandler, eventFrom("errorsList", { token: null }))).status).toBe(401);
    const admin = await freshUser(undefined, ["admin"]);
    const res = await invoke(
      listHandler,
      eventFrom("errorsList", { token: admin.token, query: { days: "90" } }),
    );
    expect(res.status).toBe(422);
    expect(res.body.detail).toContain("query.days");
  });
});

describe("the log line of a report", () => {
  it("holds scrubbed facts only", () => {
    const body = ErrorReportBody.parse(
      sampleReport({ message: "failed for a@b.io", context: { site: "x", prompt: "secret prompt" } }),
    );
    const report = scrubReport(body);
    const fields = reportLogFields(report, { groupId: "g1", source: "computed" }, "stored", {
      userId: "u1",
      requestId: "r1",
    });
    expect(fields).toMatchObject({
      message: "failed for [email]",
      url: "https://chat.openai.com",
      context_keys: ["site"],
    });
    const line = JSON.stringify(fields);
    expect(line).not.toMatch(/a@b\.io|secret prompt|content\.js/);
  });
});
