import { readFileSync } from "node:fs";
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { db, TABLE } from "#lib/db/client";
import { keys } from "#lib/db/keys";
import type { HttpEvent, HttpHandler } from "#lib/http";
import { signDevToken } from "../scripts/tokens.ts";

/** A sample event from events/, deep-copied so a test can change what its case needs. */
export function loadEvent(name: string): HttpEvent {
  return JSON.parse(readFileSync(new URL(`../events/${name}.json`, import.meta.url), "utf8"));
}

export interface EventChanges {
  /** A bearer token; `null` removes the sample's Authorization header. */
  token?: string | null;
  body?: unknown;
  rawBody?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
}

/** The sample event with a bearer token, a body, a query or headers of the test's choosing. */
export function eventFrom(name: string, changes: EventChanges = {}): HttpEvent {
  const event = loadEvent(name);
  if (changes.token === null) delete event.headers.authorization;
  else if (changes.token !== undefined) event.headers.authorization = `Bearer ${changes.token}`;
  if (changes.body !== undefined) event.body = JSON.stringify(changes.body);
  if (changes.rawBody !== undefined) event.body = changes.rawBody;
  if (changes.query !== undefined) {
    event.queryStringParameters = changes.query;
    event.rawQueryString = new URLSearchParams(changes.query).toString();
  }
  Object.assign(event.headers, changes.headers);
  return event;
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response fields
  body: any;
}

/** Invokes a handler in-process and parses its JSON body. */
export async function invoke(handler: HttpHandler, event: HttpEvent): Promise<Answer> {
  const result = await handler(event);
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k, String(v)]));
  return {
    status: result.statusCode ?? 200,
    headers,
    body: result.body ? JSON.parse(result.body) : undefined,
  };
}

/** A token for a fresh user id, so that tests never share data. */
export async function freshUser(plan?: string, roles?: string[]): Promise<{ id: string; token: string }> {
  const id = `test-${crypto.randomUUID()}`;
  return { id, token: await signDevToken({ sub: id, plan, roles }) };
}

export { signDevToken };

/** Every item of a user's partition, read consistently: to prove a request changed nothing of theirs. */
export async function userItems(userId: string): Promise<Record<string, unknown>[]> {
  const { Items } = await db.send(
    new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: "PK = :pk",
      ExpressionAttributeValues: { ":pk": keys.userPartition(userId) },
      ConsistentRead: true,
    }),
  );
  return Items ?? [];
}
