import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { type Config, config } from "#lib/config";

/**
 * Builds a DynamoDB client with explicit connect and request timeouts and few retries,
 * so that a database that is down or slow fails a request within about a second and a half
 * instead of hanging until the Lambda times out.
 */
export function createDynamoClient(
  cfg: Pick<
    Config,
    "AWS_REGION" | "DYNAMODB_ENDPOINT" | "DB_CONNECT_TIMEOUT_MS" | "DB_REQUEST_TIMEOUT_MS" | "DB_MAX_ATTEMPTS"
  >,
): DynamoDBClient {
  return new DynamoDBClient({
    region: cfg.AWS_REGION,
    endpoint: cfg.DYNAMODB_ENDPOINT,
    maxAttempts: cfg.DB_MAX_ATTEMPTS,
    // dynalite accepts any credentials; on AWS the Lambda role's credentials are used.
    credentials: cfg.DYNAMODB_ENDPOINT ? { accessKeyId: "local", secretAccessKey: "local" } : undefined,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: cfg.DB_CONNECT_TIMEOUT_MS,
      requestTimeout: cfg.DB_REQUEST_TIMEOUT_MS,
      // Without this the handler only logs a warning and the request hangs on a silent database.
      throwOnRequestTimeout: true,
    }),
  });
}

/** Wraps a low-level client in the document client with the marshalling options we use everywhere. */
export function createDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

/** The low-level client of this process, created once per cold start. */
export const dynamo = createDynamoClient(config);
/** The document client of this process, created once per cold start. */
export const db = createDocumentClient(dynamo);
/** The table every item lives in (single-table design, see README). */
export const TABLE = config.TABLE_NAME;
