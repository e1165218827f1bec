import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { HttpHandler } from "#lib/http";
import { signDevToken } from "../../scripts/tokens.ts";
import { caseFor, eventOf, type FuzzCase, type FuzzRoute } from "./cases.ts";

const WRITES = new Set(["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"]);

/** Counts the writes DynamoDB accepted (a failed conditional write wrote nothing, so it is not counted). */
export function countAcceptedWrites(client: DynamoDBClient): { value: number } {
  const counter = { value: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (WRITES.has(String(context.commandName).replace(/Command$/, ""))) counter.value++;
      return result;
    },
    { step: "initialize", name: "fuzzWriteCounter", priority: "low" },
  );
  return counter;
}

export interface FuzzOutcome {
  status: number;
  problem?: string;
}

/**
 * Sends one case and judges the answer: never 5xx; every 4xx has `detail` and `code`; a refused
 * request (4xx) made no accepted write, except a 429 of error intake, which records the dropped count.
 */
export async function runCase(
  route: FuzzRoute,
  handler: HttpHandler,
  c: FuzzCase,
  token: string,
  writes: { value: number },
): Promise<FuzzOutcome> {
  const before = writes.value;
  const result = await handler(eventOf(route, c, token));
  const status = result.statusCode ?? 200;
  const wrote = writes.value - before;
  if (status >= 500) return { status, problem: `${route.name} answered ${status}: ${result.body}` };
  if (status >= 400) {
    let body: { detail?: unknown; code?: unknown } = {};
    try {
      body = JSON.parse(result.body ?? "");
    } catch {
      return { status, problem: `${route.name} ${status} body is not JSON` };
    }
    if (typeof body.detail !== "string" || typeof body.code !== "string") {
      return { status, problem: `${route.name} ${status} lacks detail/code: ${result.body}` };
    }
    const recordsDrop = status === 429 && route.name === "errorsReport";
    if (wrote > 0 && !recordsDrop)
      return { status, problem: `${route.name} refused with ${status} but wrote ${wrote}` };
  }
  return { status };
}

/** A user per route whose profile exists, so a request's first-use profile write is not mistaken for a stray one. */
export async function tokenFor(route: FuzzRoute, runId: string): Promise<string> {
  return signDevToken({
    sub: `fuzz-${runId}-${route.name}`,
    plan: "pro",
    roles: route.admin ? ["admin"] : undefined,
  });
}

export { caseFor };
