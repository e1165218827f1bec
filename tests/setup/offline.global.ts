import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import type { TestProject } from "vitest/node";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Boots the real `serverless offline` (esbuild bundles, API Gateway routing, Lambda workers)
 * against the run's dynalite, on free ports, and provides its base URL to the e2e suites.
 */
export default async function setup(project: TestProject) {
  const [httpPort, lambdaPort] = [await freePort(), await freePort()];
  const workDir = `.esbuild-e2e-${process.pid}`;
  const child: ChildProcess = spawn(
    "npx",
    [
      "serverless",
      "offline",
      "start",
      "--stage",
      "local",
      "--httpPort",
      String(httpPort),
      "--lambdaPort",
      String(lambdaPort),
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      env: {
        ...process.env,
        STAGE: "local",
        ESBUILD_WORK_DIR: workDir,
        DYNAMODB_ENDPOINT: process.env.DYNAMODB_ENDPOINT,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
        AWS_ACCESS_KEY_ID: "local",
        AWS_SECRET_ACCESS_KEY: "local",
        LOG_LEVEL: "warn",
      },
    },
  );
  const stop = () => {
    child.removeAllListeners("exit");
    if (child.pid) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
    }
  };
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`serverless offline did not start:\n${output}`)),
      110_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Server ready")) {
        clearTimeout(timer);
        resolve();
      }
    };
    // serverless offline prints its banner on stdout or stderr depending on the TTY.
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serverless offline exited with ${code}:\n${output}`));
    });
  });
  project.provide("baseUrl", `http://127.0.0.1:${httpPort}`);
  return async () => {
    stop();
    await new Promise((r) => setTimeout(r, 300));
    rmSync(workDir, { recursive: true, force: true });
  };
}
