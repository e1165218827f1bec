import type { ErrorReportBody, ScrubbedReport } from "#lib/error-reports/schema";

/**
 * Scrubbing of error reports: everything the extension sends passes through here before it is
 * stored, logged, grouped or alerted on. The rules err on the side of removing too much; a
 * report that lost a harmless word is still useful, one that kept a password is a leak.
 */

/** Where a text comes from: stacks keep URL paths (file names matter for grouping). */
export type TextKind = "text" | "stack";

interface Rule {
  name: string;
  pattern: RegExp;
  replace: (match: string, ...groups: string[]) => string;
}

/** True when a digit string passes the Luhn check (as payment card numbers do). */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** A URL as scheme and host (port included); `[url]` when it does not parse. */
export function reduceUrl(raw: string): string {
  try {
    const url = new URL(raw);
    return url.host ? `${url.protocol}//${url.host}` : `${url.protocol}`;
  } catch {
    return "[url]";
  }
}

/** A URL inside a stack keeps its path (the script file) but loses userinfo, query and fragment. */
function reduceStackUrl(raw: string): string {
  const position = /(:\d+){1,2}$/.exec(raw)?.[0] ?? "";
  const bare = raw.slice(0, raw.length - position.length);
  try {
    const url = new URL(bare);
    return `${url.protocol}//${url.host}${url.pathname}${position}`;
  } catch {
    return `[url]${position}`;
  }
}

const SECRET_NAME =
  "[A-Za-z0-9_-]*?(?:key|password|passwd|pwd|secret|token|auth|credential|session|cookie|signature)s?";

/** The ordered rules. Order matters: a bearer JWT is one token, a URL is reduced before its query is read. */
const RULES: Rule[] = [
  {
    name: "bearer",
    pattern: /\bBearer\s+[A-Za-z0-9\-._~+/]+=*/gi,
    replace: () => "Bearer [redacted]",
  },
  {
    name: "jwt",
    pattern: /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g,
    replace: () => "[jwt]",
  },
  {
    name: "api-key",
    // OpenAI/Anthropic `sk-...`, AWS access key ids, GitHub, Slack and Google API keys.
    pattern:
      /\b(?:sk-[A-Za-z0-9_-]{8,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}|xox[abpr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{30,})/g,
    replace: () => "[api-key]",
  },
  {
    name: "secret-assignment",
    // key=..., password: ..., "token": "...": the name is kept, the value goes.
    pattern: new RegExp(`\\b(${SECRET_NAME})(["']?\\s*[:=]\\s*["']?)(?!\\[)([^\\s"'&,;})\\]]+)`, "gi"),
    replace: (_m, name = "", sep = "") => `${name}${sep}[redacted]`,
  },
  {
    name: "email",
    pattern: /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g,
    replace: () => "[email]",
  },
  {
    name: "card",
    // 13 to 19 digits, optionally grouped by spaces or dashes, that pass the Luhn check.
    pattern: /(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)/g,
    replace: (match) => {
      const digits = match.replace(/\D/g, "");
      return digits.length >= 13 && passesLuhn(digits) ? "[card]" : match;
    },
  },
];

const URL_IN_TEXT = /\b(?:https?|wss?):\/\/[^\s"'<>()[\]{}]+/gi;

/**
 * Scrubs one free text: web URLs are reduced (to scheme and host in messages, to the file path
 * in stacks), then bearer tokens, JWTs, API keys, `key=`/`password=`/`secret=`/`token=` values,
 * email addresses and card-like numbers (Luhn-valid) are replaced by a `[kind]` placeholder.
 */
export function scrubText(input: string, kind: TextKind = "text"): string {
  // Reducing a URL drops its userinfo, query and fragment, where tokens and ids usually sit.
  let out = input.replace(URL_IN_TEXT, (url) => {
    if (kind === "stack") return reduceStackUrl(url);
    const trailing = /[.,;:!?]+$/.exec(url)?.[0] ?? "";
    return reduceUrl(url.slice(0, url.length - trailing.length)) + trailing;
  });
  for (const rule of RULES) out = out.replace(rule.pattern, rule.replace as (m: string) => string);
  return out;
}

/**
 * Context keys that could carry prompt text, page text or model output. Such entries are dropped
 * whole, whatever their value looks like: we never want a user's prompt in an error report.
 */
export const PROMPT_KEY =
  /prompt|input|text|content|completion|response|selection|query|body|draft|clipboard|html|dom|message|conversation|chat|answer|output|transcript|instruction/i;

/**
 * Scrubs a validated report: every free text through `scrubText`, the page URL reduced to scheme
 * and host, prompt-like context entries dropped (their names kept in `dropped_fields`). The
 * client fingerprint is not part of the result: it is only hashed, after scrubbing, by grouping.
 */
export function scrubReport(body: ErrorReportBody): ScrubbedReport {
  const report: ScrubbedReport = {
    id: body.id,
    level: body.level,
    message: scrubText(body.message),
    extension_version: body.extension_version,
    browser: scrubText(body.browser),
    os: scrubText(body.os),
    timestamp: body.timestamp,
  };
  if (body.stack !== undefined) report.stack = scrubText(body.stack, "stack");
  if (body.url !== undefined) report.url = reduceUrl(body.url);
  if (body.context !== undefined) {
    const context: Record<string, string> = {};
    const dropped: string[] = [];
    for (const [key, value] of Object.entries(body.context)) {
      const name = scrubText(key);
      if (PROMPT_KEY.test(key)) dropped.push(name);
      else context[name] = scrubText(value);
    }
    report.context = context;
    if (dropped.length > 0) report.dropped_fields = dropped;
  }
  return report;
}
