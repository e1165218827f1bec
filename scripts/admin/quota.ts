import { type ParseArgsConfig, parseArgs } from "node:util";
import { PLAN_NAMES, PlanName } from "#lib/plans";
import { getOrCreateProfile } from "#lib/profile";
import { changeProfile, currentLimits, listStatements, resetQuota } from "#lib/quotas";
import type { AdminCommand } from "../admin.ts";

const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));

function sub(args: string[], extra: NonNullable<ParseArgsConfig["options"]> = {}) {
  const { values } = parseArgs({ args, options: { sub: { type: "string" }, ...extra } });
  const parsed = values as Record<string, string | boolean | undefined>;
  if (typeof parsed.sub !== "string" || !parsed.sub) throw new Error("--sub <user id> is required");
  return { sub: parsed.sub, values: parsed };
}

function limit(value: string | boolean | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number of credits`);
  return n;
}

/** `npm run admin -- quota <command>`: support commands for plans and credits. */
export const commands: Record<string, AdminCommand> = {
  "set-plan": {
    usage: `--sub <id> --plan <${PLAN_NAMES.join("|")}> [--daily <n>] [--monthly <n>] [--clear-overrides]`,
    run: async (args) => {
      const { sub: id, values } = sub(args, {
        plan: { type: "string" },
        daily: { type: "string" },
        monthly: { type: "string" },
        "clear-overrides": { type: "boolean" },
      });
      const plan = PlanName.safeParse(values.plan);
      if (!plan.success) throw new Error(`--plan must be one of ${PLAN_NAMES.join(", ")}`);
      const daily = limit(values.daily, "daily");
      const monthly = limit(values.monthly, "monthly");
      const overrides = values["clear-overrides"]
        ? null
        : daily !== undefined || monthly !== undefined
          ? { daily_limit: daily, monthly_limit: monthly }
          : undefined;
      const profile = await changeProfile(id, { plan: plan.data, overrides });
      print({ profile, limits: await currentLimits({ id, roles: [] }, new Date()) });
    },
  },
  "set-timezone": {
    usage: "--sub <id> --tz <IANA zone, e.g. Europe/Berlin>",
    run: async (args) => {
      const { sub: id, values } = sub(args, { tz: { type: "string" } });
      if (typeof values.tz !== "string") throw new Error("--tz is required");
      print(await changeProfile(id, { timezone: values.tz }));
    },
  },
  "reset-quota": {
    usage: "--sub <id>   (sets today's and this month's used credits to 0)",
    run: async (args) => print(await resetQuota(sub(args).sub)),
  },
  show: {
    usage: "--sub <id>",
    run: async (args) => {
      const { sub: id } = sub(args);
      const user = { id, roles: [] };
      print({
        profile: await getOrCreateProfile(user),
        limits: await currentLimits(user, new Date()),
        statements: await listStatements(id),
      });
    },
  },
};
