import { describe, expect, it } from "vitest";
import { ErrorReportBody } from "#lib/error-reports/schema";
import { passesLuhn, reduceUrl, scrubReport, scrubText } from "#lib/error-reports/scrub";

/** [case, input, kind, expected output]: the scrubbing contract, one row per rule and edge. */
const TEXT_CASES: [string, string, "text" | "stack", string][] = [
  [
    "plain text is kept",
    "Cannot read properties of undefined",
    "text",
    "Cannot read properties of undefined",
  ],
  ["email", "user jane.doe+ext@example.co.uk not found", "text", "user [email] not found"],
  ["two emails", "a@b.io, c.d@e-f.org", "text", "[email], [email]"],
  [
    "bearer token",
    "Authorization: Bearer abc.DEF-123_xyz~+/= rejected",
    "text",
    "Authorization: Bearer [redacted] rejected",
  ],
  [
    "bare JWT",
    "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLXNpZw expired",
    "text",
    "token [jwt] expired",
  ],
  ["OpenAI key", "401 for sk-proj-AbCdEf0123456789xyz", "text", "401 for [api-key]"],
  ["Anthropic key", "bad key sk-ant-api03-abcdefghijklmnop", "text", "bad key [api-key]"],
  ["AWS access key id", "creds AKIAIOSFODNN7EXAMPLE leaked", "text", "creds [api-key] leaked"],
  ["GitHub token", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "text", "[api-key]"],
  ["key=value", "failed with key=abc123&x=1", "text", "failed with key=[redacted]&x=1"],
  ["api_key=", "api_key=ZXCV-1234 denied", "text", "api_key=[redacted] denied"],
  ["password=", "login password=hunter2 failed", "text", "login password=[redacted] failed"],
  ["password in JSON", '{"password":"hunter2","user":"x"}', "text", '{"password":"[redacted]","user":"x"}'],
  ["secret: value", "client_secret: s3cr3t-value", "text", "client_secret: [redacted]"],
  ["token=", "refresh_token=r-123.456 expired", "text", "refresh_token=[redacted] expired"],
  [
    "a property named token is not a secret",
    "Cannot read properties of undefined (reading 'token')",
    "text",
    "Cannot read properties of undefined (reading 'token')",
  ],
  ["Visa number (Luhn-valid)", "card 4111 1111 1111 1111 declined", "text", "card [card] declined"],
  ["Mastercard with dashes", "5555-5555-5555-4444", "text", "[card]"],
  ["Amex (15 digits)", "378282246310005", "text", "[card]"],
  [
    "long number failing Luhn is kept",
    "request 4111111111111112 failed",
    "text",
    "request 4111111111111112 failed",
  ],
  ["short numbers are kept", "status 404 after 1500 ms", "text", "status 404 after 1500 ms"],
  [
    "URL in a message: scheme and host only",
    "fetch https://api.example.com/v1/users/42?token=abc failed.",
    "text",
    "fetch https://api.example.com failed.",
  ],
  [
    "URL userinfo is dropped",
    "GET https://jane:pw@internal.example.com/x",
    "text",
    "GET https://internal.example.com",
  ],
  [
    "URL in a stack keeps the file, loses query and position stays",
    "at f (https://chat.example.com/static/app.js?v=9&session=s1:10:5)",
    "stack",
    "at f (https://chat.example.com/static/app.js:10:5)",
  ],
  [
    "extension URLs in a stack are kept",
    "at g (chrome-extension://abcdefghijklmnop/content.js:3:9)",
    "stack",
    "at g (chrome-extension://abcdefghijklmnop/content.js:3:9)",
  ],
  [
    "everything at once",
    "user a@b.io Bearer xyz sk-abcdefgh12345678 password=p 4242424242424242",
    "text",
    "user [email] Bearer [redacted] [api-key] password=[redacted] [card]",
  ],
];

describe("scrubText: the table", () => {
  it.each(TEXT_CASES)("%s", (_name, input, kind, expected) => {
    expect(scrubText(input, kind)).toBe(expected);
  });

  it("is idempotent on every row (scrubbing twice changes nothing more)", () => {
    for (const [, input, kind] of TEXT_CASES) {
      const once = scrubText(input, kind);
      expect(scrubText(once, kind)).toBe(once);
    }
  });
});

describe("reduceUrl", () => {
  it.each([
    ["https://chat.openai.com/c/6f1c2a4e?model=x#frag", "https://chat.openai.com"],
    ["http://localhost:3000/path", "http://localhost:3000"],
    ["chrome-extension://abcdefghijklmnop/popup.html", "chrome-extension://abcdefghijklmnop"],
    ["not a url", "[url]"],
  ])("%s -> %s", (input, expected) => {
    expect(reduceUrl(input)).toBe(expected);
  });
});

describe("passesLuhn", () => {
  it.each([
    ["4111111111111111", true],
    ["4111111111111112", false],
    ["79927398713", true],
  ])("%s -> %s", (digits, expected) => {
    expect(passesLuhn(digits)).toBe(expected);
  });
});

describe("scrubReport", () => {
  const body = ErrorReportBody.parse({
    id: "report-0001",
    level: "error",
    message: "Upgrade failed for jane@example.com with Bearer abc123",
    stack: "Error: x\n    at f (https://site.example.com/app.js?sid=1:1:2)",
    extension_version: "1.2.3",
    browser: "Chrome 131",
    os: "macOS 15",
    url: "https://chat.openai.com/c/123?q=secret",
    context: {
      site: "chatgpt",
      prompt: "my secret business plan",
      selected_text: "more private text",
      composerContent: "draft",
      note: "call me at a@b.io",
    },
    timestamp: "2026-12-03T12:00:00Z",
  });

  it("scrubs every text, reduces the URL and drops prompt-like context fields", () => {
    expect(scrubReport(body)).toEqual({
      id: "report-0001",
      level: "error",
      message: "Upgrade failed for [email] with Bearer [redacted]",
      stack: "Error: x\n    at f (https://site.example.com/app.js:1:2)",
      extension_version: "1.2.3",
      browser: "Chrome 131",
      os: "macOS 15",
      url: "https://chat.openai.com",
      context: { site: "chatgpt", note: "call me at [email]" },
      dropped_fields: ["prompt", "selected_text", "composerContent"],
      timestamp: "2026-12-03T12:00:00Z",
    });
  });

  it("never lets prompt text through, whatever else the report holds", () => {
    const json = JSON.stringify(scrubReport(body));
    for (const secret of [
      "my secret business plan",
      "more private text",
      "jane@example.com",
      "abc123",
      "q=secret",
    ]) {
      expect(json).not.toContain(secret);
    }
  });
});
