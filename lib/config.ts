import { z } from "zod";

/**
 * Defaults for the local stack (`npm start`, tests, `serverless invoke local`).
 * They apply only when STAGE is `local` (the default); a deployed stage gets every
 * value from `serverless.yml` and fails at cold start when one is missing.
 */
export const LOCAL_DEFAULTS = {
  TABLE_NAME: "extension-backend-local",
  DYNAMODB_ENDPOINT: "http://127.0.0.1:8000",
  AWS_REGION: "us-east-1",
  JWT_LOCAL_SECRET: "local-development-secret-change-me-0123456789",
  JWT_ISSUER: "extension-backend-local",
  JWT_AUDIENCE: "extension",
  CORS_ALLOWED_ORIGINS: "chrome-extension://*,moz-extension://*",
} as const;

const csv = z.string().transform((s) =>
  s
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean),
);

const optionalUrl = z
  .string()
  .optional()
  .transform((s) => (s ? s : undefined))
  .pipe(z.url().optional());

const ConfigSchema = z
  .object({
    STAGE: z.string().min(1).default("local"),
    TABLE_NAME: z.string().min(3),
    AWS_REGION: z.string().min(1).default("us-east-1"),
    /** Set only for dynalite / DynamoDB Local; unset on AWS. */
    DYNAMODB_ENDPOINT: optionalUrl,
    /** Connect and request timeouts of the DynamoDB client: a down database fails fast. */
    DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(50).max(10_000).default(500),
    DB_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(50).max(20_000).default(1_500),
    DB_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(5).default(2),

    JWT_JWKS_URL: optionalUrl,
    JWT_LOCAL_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
    JWT_ISSUER: z.string().min(1),
    JWT_AUDIENCE: z.string().min(1),
    JWT_CLOCK_TOLERANCE_S: z.coerce.number().int().min(0).max(300).default(30),
    /** Value of the `roles` claim (or `role`) that opens the admin routes. */
    ADMIN_ROLE: z.string().min(1).default("admin"),

    /** Comma list of allowed origins; `scheme://*` allows any extension id of that scheme. */
    CORS_ALLOWED_ORIGINS: csv.default([]),
    MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(6_000_000).default(1_048_576),

    DEMON_ENGINE_HEALTH_URL: optionalUrl,
    BRAIN_ENGINE_HEALTH_URL: optionalUrl,
    HEALTH_PROBE_TIMEOUT_MS: z.coerce.number().int().min(50).max(10_000).default(1_000),
    HEALTH_CACHE_SECONDS: z.coerce.number().int().min(0).max(300).default(5),
    /**
     * How long a warm instance keeps flag definitions (and each user's plan) in memory. The upper
     * bound of 15 s is the promise that a kill switch reaches every warm instance within 15 s.
     */
    FLAGS_CACHE_SECONDS: z.coerce.number().min(0).max(15).default(5),

    /** Error reports a user may send per minute (past it: 429 and the drop counted on the group). */
    ERROR_REPORTS_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(30),
    /** Error reports one group may take per minute, from all users together. */
    ERROR_GROUP_REPORTS_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(300),
    /** Days a stored error report (sample) is kept before its TTL deletes it. */
    ERROR_SAMPLE_TTL_DAYS: z.coerce.number().int().min(1).max(365).default(30),
    /** Reports of one group in one UTC day that raise a "threshold" alert when reached. */
    ERROR_ALERT_THRESHOLD: z.coerce.number().int().min(1).max(1_000_000).default(100),
    /** Minimum time between two alerts of the same group. */
    ERROR_ALERT_COOLDOWN_SECONDS: z.coerce.number().int().min(1).max(86_400).default(3_600),
    /** Slack-compatible incoming webhook that receives error alerts; unset: no webhook. */
    ALERT_WEBHOOK_URL: optionalUrl,
    /**
     * SNS topic of error alerts (declared in serverless.yml). Locally `serverless offline` cannot
     * resolve the `!Ref`, so a value that is not an SNS ARN counts as unset.
     */
    ALERT_SNS_TOPIC_ARN: z
      .string()
      .optional()
      .transform((s) => (s && /^arn:aws[\w-]*:sns:/.test(s) ? s : undefined)),
    /** SNS endpoint override for tests and local stacks; unset on AWS. */
    ALERT_SNS_ENDPOINT: optionalUrl,
    /** Deadline of one alert delivery: a slow sink never holds up the intake for long. */
    ALERT_TIMEOUT_MS: z.coerce.number().int().min(50).max(10_000).default(1_500),

    /** Days a raw usage event is kept (its `expires_at`, counted from the event's time). */
    /** Bulk-track requests per user per minute (a sync carries up to 500 events). */
    USAGE_SYNCS_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(30),
    USAGE_EVENT_TTL_DAYS: z.coerce.number().int().min(1).max(3_650).default(90),

    /** Seconds a warm instance trusts a cached profile (plan changes still apply at once: see lib/quotas). */
    PROFILE_CACHE_SECONDS: z.coerce.number().int().min(0).max(3_600).default(300),
    /** GSI1 partitions per month of the users charged that month (spreads the first charges of a month). */
    QUOTA_ACTIVE_SHARDS: z.coerce.number().int().min(1).max(256).default(8),
    /** Months a quota counter (and its statements) is kept after its month ends; the reset job deletes older ones. */
    QUOTA_RETENTION_MONTHS: z.coerce.number().int().min(4).max(120).default(13),
    LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  })
  .superRefine((c, ctx) => {
    if (!c.JWT_JWKS_URL && !c.JWT_LOCAL_SECRET) {
      ctx.addIssue({
        code: "custom",
        path: ["JWT_JWKS_URL"],
        message: "is required (or JWT_LOCAL_SECRET for local development)",
      });
    }
    if (c.STAGE !== "local" && !c.JWT_JWKS_URL) {
      ctx.addIssue({
        code: "custom",
        path: ["JWT_JWKS_URL"],
        message: `is required on stage "${c.STAGE}": local secrets are for the local stage only`,
      });
    }
  });

export type Config = z.infer<typeof ConfigSchema>;

/** Thrown at cold start; its message names every variable that is wrong. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Parses an environment into a Config. On the local stage, LOCAL_DEFAULTS fill what is unset.
 * Empty strings count as unset, so `FOO=` in a shell or `${env:FOO, ''}` in serverless.yml
 * behaves like an absent variable.
 */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const stage = given.STAGE ?? "local";
  const onRealLambda = given.AWS_LAMBDA_FUNCTION_NAME && !given.IS_OFFLINE && !given.IS_LOCAL;
  if (stage === "local" && onRealLambda) {
    throw new ConfigError('Configuration error: STAGE is "local" on AWS; deploy with --stage <name>.');
  }
  const source = stage === "local" ? { ...LOCAL_DEFAULTS, ...given } : given;
  const parsed = ConfigSchema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.join(".") || "environment";
      if (issue.code === "custom") return `${name} ${issue.message}`;
      return name in source ? `${name} is invalid: ${issue.message}` : `${name} is missing`;
    });
    throw new ConfigError(`Configuration error: ${problems.join("; ")}.`);
  }
  return parsed.data;
}

/** The configuration of this process, parsed once at cold start. */
export const config: Config = parseConfig(process.env);

/** True when an origin matches the configured allow-list (exact, or `scheme://*`). */
export function isAllowedOrigin(origin: string, allowed: readonly string[] = config.CORS_ALLOWED_ORIGINS) {
  return allowed.some((pattern) =>
    pattern.endsWith("://*")
      ? origin.startsWith(pattern.slice(0, -1)) && origin.length > pattern.length - 1
      : pattern === origin,
  );
}
