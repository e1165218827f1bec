import type { TestProject } from "vitest/node";
import { LOCAL_DEFAULTS } from "#lib/config";
import { prepareLocalTable, startDynalite } from "../../scripts/local-dynamo.ts";

/** One in-memory dynalite per test run, on a free port, with the table created. */
export default async function setup(project: TestProject) {
  const dynamo = await startDynalite(0);
  const { client } = await prepareLocalTable(dynamo.endpoint, LOCAL_DEFAULTS.TABLE_NAME);
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
