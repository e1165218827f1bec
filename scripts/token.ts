/**
 * `npm run token -- --sub <id> [--plan <plan>] [--role admin] [--ttl <seconds>]`
 * Prints a JWT for the local stack on stdout, and nothing else.
 */
import { parseArgs } from "node:util";
import { signDevToken } from "./tokens.ts";

const { values } = parseArgs({
  options: {
    sub: { type: "string" },
    plan: { type: "string" },
    role: { type: "string", multiple: true },
    ttl: { type: "string" },
  },
});
if (!values.sub) {
  console.error("usage: npm run token -- --sub <id> [--plan <plan>] [--role admin] [--ttl <seconds>]");
  process.exit(2);
}
const token = await signDevToken({
  sub: values.sub,
  plan: values.plan,
  roles: values.role,
  ttlSeconds: values.ttl ? Number(values.ttl) : undefined,
});
process.stdout.write(`${token}\n`);
