import { ConditionalCheckFailedException, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { createDocumentClient } from "#lib/db/client";
import { keys } from "#lib/db/keys";

/** The demo users of the local stack: one per paid state, so both paths can be tried at once. */
export const DEMO_USERS = [
  { sub: "demo-free", plan: "free" },
  { sub: "demo-pro", plan: "pro" },
] as const;

/** Writes the demo users' profiles once; a second run changes nothing. */
export async function seedDemoUsers(client: DynamoDBClient, tableName: string): Promise<number> {
  const doc = createDocumentClient(client);
  let created = 0;
  for (const user of DEMO_USERS) {
    try {
      await doc.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            ...keys.userProfile(user.sub),
            plan: user.plan,
            timezone: "UTC",
            created_at: new Date().toISOString(),
          },
          ConditionExpression: "attribute_not_exists(PK)",
        }),
      );
      created++;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
  return created;
}
