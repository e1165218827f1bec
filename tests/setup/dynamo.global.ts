import type { TestProject } from "vitest/node";
import { LOCAL_DEFAULTS } from "#lib/config";
import { createDynamoClient } from "#lib/db/client";
import { ensureTable } from "#lib/db/table";
import { startDynalite } from "../../scripts/local-dynamo.ts";

/** One in-memory dynalite per test run, on a free port, with the table created. */
export default async function setup(project: TestProject) {
  const dynamo = await startDynalite(0);
  const client = createDynamoClient({
    AWS_REGION: LOCAL_DEFAULTS.AWS_REGION,
    DYNAMODB_ENDPOINT: dynamo.endpoint,
    DB_CONNECT_TIMEOUT_MS: 1000,
    DB_REQUEST_TIMEOUT_MS: 5000,
    DB_MAX_ATTEMPTS: 3,
  });
  await ensureTable(client, LOCAL_DEFAULTS.TABLE_NAME);
  project.provide("dynamoEndpoint", dynamo.endpoint);
  process.env.DYNAMODB_ENDPOINT = dynamo.endpoint;
  return async () => {
    client.destroy();
    await dynamo.stop();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    dynamoEndpoint: string;
    baseUrl: string;
  }
}
