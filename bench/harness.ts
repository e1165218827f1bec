import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";

/** Percentile of a sorted-or-not list of numbers (nearest rank). */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export interface Timing {
  n: number;
  p50: number;
  p99: number;
}

/** Runs `fn` `warmup` times unmeasured, then `n` times one after another; milliseconds per call. */
export async function time(fn: (i: number) => Promise<unknown>, n: number, warmup = 20): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    samples.push(performance.now() - t0);
  }
  return { n, p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

export const ms = (v: number) => `${v.toFixed(2)} ms`;

export interface RequestCounter {
  /** Requests sent since the last reset, by operation name (`GetItem`, `UpdateItem`, ...). */
  byOperation: Map<string, number>;
  /** Consumed capacity units reported by DynamoDB, when requested with ReturnConsumedCapacity. */
  total: () => number;
  reset: () => void;
}

/**
 * Counts every request a client sends, by SDK middleware (the same middleware stack the SDK's
 * own retries pass through, so a retried call counts each attempt).
 */
export function countRequests(client: DynamoDBClient): RequestCounter {
  const byOperation = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName ?? "unknown").replace(/Command$/, "");
      byOperation.set(name, (byOperation.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: "finalizeRequest", name: "benchRequestCounter", override: true },
  );
  return {
    byOperation,
    total: () => [...byOperation.values()].reduce((a, b) => a + b, 0),
    reset: () => byOperation.clear(),
  };
}
