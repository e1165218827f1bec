import fc from "fast-check";
import type { HttpEvent, HttpHandler } from "#lib/http";
import { loadEvent } from "../helpers.ts";

/**
 * Random and adversarial requests for every HTTP route, shared by the bounded suite in `npm test`
 * (tests/fuzz.test.ts) and the long run (`npm run fuzz`). Each case starts from a route's real sample
 * event and replaces the body, the query string, some headers or the path parameters.
 */
export interface FuzzRoute {
  name: string;
  event: string;
  load: () => Promise<HttpHandler>;
  admin?: boolean;
  /** False for a route that reads no input (the health check), so it never refuses a request. */
  refuses?: boolean;
  /** False for a route whose sample cannot succeed for a fresh user (releasing a key never consumed). */
  accepts?: boolean;
}

export const FUZZ_ROUTES: FuzzRoute[] = [
  {
    name: "limitsCurrent",
    event: "limitsCurrent",
    load: async () => (await import("../../functions/limits-current.ts")).handler,
  },
  {
    name: "limitsCheck",
    event: "limitsCheck",
    load: async () => (await import("../../functions/limits-check.ts")).handler,
  },
  {
    name: "limitsConsume",
    event: "limitsConsume",
    load: async () => (await import("../../functions/limits-consume.ts")).handler,
  },
  {
    name: "limitsRelease",
    event: "limitsRelease",
    accepts: false,
    load: async () => (await import("../../functions/limits-release.ts")).handler,
  },
  {
    name: "usageBulkTrack",
    event: "usageBulkTrack",
    load: async () => (await import("../../functions/usage-bulk-track.ts")).handler,
  },
  {
    name: "usageAnalytics",
    event: "usageAnalytics",
    load: async () => (await import("../../functions/usage-analytics.ts")).handler,
  },
  {
    name: "features",
    event: "features",
    load: async () => (await import("../../functions/features.ts")).handler,
  },
  {
    name: "ofrepBulk",
    event: "ofrepBulk",
    load: async () => (await import("../../functions/ofrep-bulk.ts")).handler,
  },
  {
    name: "ofrepFlag",
    event: "ofrepFlag",
    load: async () => (await import("../../functions/ofrep-flag.ts")).handler,
  },
  {
    name: "errorsReport",
    event: "errorsReport",
    load: async () => (await import("../../functions/errors-report.ts")).handler,
  },
  {
    name: "errorsList",
    event: "errorsList",
    admin: true,
    load: async () => (await import("../../functions/errors-list.ts")).handler,
  },
  {
    name: "adminFlagsPut",
    event: "adminFlags-put",
    admin: true,
    load: async () => (await import("../../functions/admin-flags.ts")).handler,
  },
  {
    name: "health",
    event: "health",
    refuses: false,
    load: async () => (await import("../../functions/health.ts")).handler,
  },
];

const POLLUTION_KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf"];

/** Strings that break naive code: control and zero-width characters, surrogates, huge runs, key separators. */
const nastyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "\u202e\u200b\ufeff",
    "\ud800",
    "#",
    "USER#x#PROFILE",
    "%23%25",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a log-injection payload, literally
    "${jndi:ldap://x}",
    "NaN",
    "-0",
    "1e309",
    "2026-02-30T25:61:61Z",
    "9999-12-31T23:59:59.999Z",
    "0000-01-01T00:00:00Z",
  ),
  fc.integer({ min: 1, max: 70_000 }).map((n) => "x".repeat(n)),
);

const edgeNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(
    0,
    -0,
    -1,
    1,
    0.5,
    2 ** 31,
    2 ** 53,
    -(2 ** 53),
    Number.MAX_SAFE_INTEGER + 2,
    1e308,
    5e-324,
  ),
);

const leaf = fc.oneof(nastyString, edgeNumber, fc.boolean(), fc.constant(null));

/** Any JSON value, with prototype-pollution keys among the object keys. */
const jsonValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("array"), tie("object")),
  array: fc.array(tie("value"), { maxLength: 6 }),
  object: fc.dictionary(
    fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...POLLUTION_KEYS)),
    tie("value"),
    {
      maxKeys: 6,
    },
  ),
})).value;

/** A valid sample body with one field replaced (or removed, or one unknown field added). */
function mutatedSample(sample: unknown): fc.Arbitrary<unknown> {
  return fc
    .record({ path: fc.nat(), value: jsonValue, mode: fc.constantFrom("replace", "remove", "add") })
    .map(({ path, value, mode }) => {
      const copy = structuredClone(sample);
      const containers: Record<string, unknown>[] = [];
      const walk = (node: unknown) => {
        if (node && typeof node === "object") {
          containers.push(node as Record<string, unknown>);
          for (const child of Object.values(node)) walk(child);
        }
      };
      walk(copy);
      const target = containers[path % Math.max(1, containers.length)];
      if (!target) return value;
      const fields = Object.keys(target);
      const field = fields[path % Math.max(1, fields.length)] ?? "extra";
      if (mode === "remove") delete target[field];
      else if (mode === "add") Object.defineProperty(target, "__proto__", { value, enumerable: true });
      else target[field] = value;
      return copy;
    });
}

/** Bodies: deep nesting, duplicate ids, huge arrays, raw non-JSON text, and mutations of the sample. */
function bodyFor(sample: unknown): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    fc.constant(undefined),
    jsonValue.map((v) => JSON.stringify(v)),
    mutatedSample(sample).map((v) => JSON.stringify(v)),
    mutatedSample(sample).map((v) => JSON.stringify(v)),
    fc.integer({ min: 1, max: 5_000 }).map((n) => `${"[".repeat(n)}${"]".repeat(n)}`),
    fc.integer({ min: 1, max: 3_000 }).map((n) => JSON.stringify(Array.from({ length: n }, () => sample))),
    fc.string({ maxLength: 60 }),
    fc.constantFrom(
      "{",
      "[1,]",
      '{"a":1,"a":2}',
      '{"__proto__":{"admin":true}}',
      "null",
      "true",
      '""',
      "1e999",
    ),
  );
}

const queryArb = fc.oneof(
  fc.constant(undefined),
  fc.dictionary(
    fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom("period", "action", "credits_required", "limit", "__proto__"),
    ),
    nastyString,
    {
      maxKeys: 4,
    },
  ),
);

const headerArb = fc.dictionary(
  fc.constantFrom(
    "idempotency-key",
    "if-none-match",
    "content-type",
    "x-extension-version",
    "origin",
    "authorization",
  ),
  nastyString,
  { maxKeys: 3 },
);

export interface FuzzCase {
  body: string | undefined;
  base64: boolean;
  query: Record<string, string> | undefined;
  headers: Record<string, string>;
  pathKey: string | undefined;
  keepToken: boolean;
}

/** The arbitrary of one request to a route. */
export function caseFor(route: FuzzRoute): fc.Arbitrary<FuzzCase> {
  const sample = loadEvent(route.event);
  let sampleBody: unknown;
  try {
    sampleBody = sample.body ? JSON.parse(sample.body) : {};
  } catch {
    sampleBody = {};
  }
  return fc.record({
    body: bodyFor(sampleBody),
    base64: fc.boolean(),
    query: queryArb,
    headers: headerArb,
    pathKey: fc.option(nastyString, { nil: undefined }),
    keepToken: fc.boolean(),
  });
}

/** The sample event of a route with a case applied and the given token (unless the case drops it). */
export function eventOf(route: FuzzRoute, c: FuzzCase, token: string): HttpEvent {
  const event = loadEvent(route.event);
  event.headers = { ...event.headers, ...c.headers };
  if (c.keepToken || !c.headers.authorization) event.headers.authorization = `Bearer ${token}`;
  if (c.body !== undefined) {
    event.body = c.base64 ? Buffer.from(c.body).toString("base64") : c.body;
    event.isBase64Encoded = c.base64;
  }
  if (c.query !== undefined) {
    event.queryStringParameters = c.query;
    event.rawQueryString = new URLSearchParams(c.query).toString();
  }
  if (c.pathKey !== undefined && event.pathParameters) {
    for (const name of Object.keys(event.pathParameters)) event.pathParameters[name] = c.pathKey;
  }
  return event;
}
