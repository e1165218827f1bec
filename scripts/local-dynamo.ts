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
