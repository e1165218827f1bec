import { config } from "#lib/config";

type Level = "debug" | "info" | "warn" | "error";
const rank: Record<Level | "silent", number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/**
 * Structured JSON logs, one object a line, for CloudWatch Logs Insights and metric filters.
 * Callers pass facts (ids, statuses, durations), never tokens, request bodies or prompt text.
 */
export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  if (rank[level] < rank[config.LOG_LEVEL]) return;
  const line = JSON.stringify({ level, msg, time: new Date().toISOString(), ...fields });
  if (level === "error" || level === "warn") console.error(line);
  else console.log(line);
}

/** A loggable summary of an unknown error: name and message, plus the SDK's error code. */
export function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    const meta = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
    return { error_name: error.name, error_message: error.message, http_status: meta?.httpStatusCode };
  }
  return { error_message: String(error) };
}
