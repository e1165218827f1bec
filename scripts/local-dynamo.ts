import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import dynalite from "dynalite";

export interface LocalDynamo {
  endpoint: string;
  port: number;
  stop: () => Promise<void>;
}

/**
 * Starts dynalite (the embedded DynamoDB) on a loopback port. With `path` its data is kept on
 * disk (leveldb), without it in memory. Port 0 picks a free port.
 */
export async function startDynalite(port: number, path?: string): Promise<LocalDynamo> {
  const server: Server = dynalite({ path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${actual}`,
    port: actual,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/**
 * A client for a local dynalite with patient timeouts (set-up work, not request handling), after
 * creating the table when it is missing. lib/ is imported here lazily: it parses its configuration
 * at import, so a caller that sets DYNAMODB_ENDPOINT first (bench/run.ts) gets it right.
 */
export async function prepareLocalTable(endpoint: string, tableName: string) {
  const { createDynamoClient } = await import("#lib/db/client");
  const { ensureTable } = await import("#lib/db/table");
  const client = createDynamoClient({
    AWS_REGION: "us-east-1",
    DYNAMODB_ENDPOINT: endpoint,
    DB_CONNECT_TIMEOUT_MS: 1000,
    DB_REQUEST_TIMEOUT_MS: 5000,
    DB_MAX_ATTEMPTS: 3,
  });
  return { client, created: await ensureTable(client, tableName) };
}
