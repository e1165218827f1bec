/**
 * `npm run admin -- <group> <command> [--options]`: operator commands against the configured table
 * (the local stack by default; set STAGE, TABLE_NAME, AWS_REGION and AWS credentials for AWS).
 * Each group lives in scripts/admin/<group>.ts and exports `commands`.
 */
import { readdirSync } from "node:fs";

export interface AdminCommand {
  usage: string;
  run: (args: string[]) => Promise<void>;
}

const dir = new URL("./admin/", import.meta.url);
const groups = readdirSync(dir)
  .filter((f) => f.endsWith(".ts"))
  .map((f) => f.slice(0, -3));

function usage(): never {
  console.error("usage: npm run admin -- <group> <command> [options]\n");
  console.error(`groups: ${groups.join(", ")}  (npm run admin -- <group> for its commands)`);
  process.exit(2);
}

const [group, command, ...rest] = process.argv.slice(2);
if (!group || !groups.includes(group)) usage();
const { commands } = (await import(new URL(`${group}.ts`, dir).href)) as {
  commands: Record<string, AdminCommand>;
};
const chosen = command ? commands[command] : undefined;
if (!chosen) {
  console.error(`commands of ${group}:`);
  for (const [name, c] of Object.entries(commands)) console.error(`  ${name} ${c.usage}`);
  process.exit(2);
}
try {
  await chosen.run(rest);
  process.exit(0);
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
