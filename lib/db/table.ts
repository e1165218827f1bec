import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
} from "@aws-sdk/client-dynamodb";
import definition from "./table.json" with { type: "json" };

/** The TTL attribute: epoch seconds after which DynamoDB (on AWS) deletes the item. */
export const TTL_ATTRIBUTE = definition.TimeToLiveSpecification.AttributeName;

/**
 * The CreateTable input for a table name, derived from `table.json`, the same file that
 * `serverless.yml` declares as the CloudFormation resource. CloudFormation-only settings
 * (TTL, point-in-time recovery) are left out: dynalite implements neither.
 */
export function createTableInput(tableName: string): CreateTableCommandInput {
  const { AttributeDefinitions, KeySchema, GlobalSecondaryIndexes, BillingMode } = definition;
  return {
    TableName: tableName,
    AttributeDefinitions,
    KeySchema,
    GlobalSecondaryIndexes,
    BillingMode,
  } as CreateTableCommandInput;
}

/** Creates the table when it does not exist yet; safe to call on every start. */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<"created" | "exists"> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return "exists";
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  await client.send(new CreateTableCommand(createTableInput(tableName)));
  for (let i = 0; i < 100; i++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === "ACTIVE") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return "created";
}
