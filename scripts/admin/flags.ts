import os from "node:os";
import { parseArgs } from "node:util";
import {
  addRule,
  flagHistory,
  getFlag,
  killFlag,
  listFlags,
  removeRule,
  rollbackFlag,
  setDefault,
  setOverride,
  setRollout,
  unkillFlag,
  updateFlag,
} from "#lib/flags/admin";
import { FlagType, parseFlagValue, TargetingRule } from "#lib/flags/definitions";
import type { AdminCommand } from "../admin.ts";

/** Who runs the command, as history records it. */
const actor = () => `cli:${process.env.USER || os.userInfo().username}`;

const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));

/** Positionals and options of a command; `need` names the positionals it requires, in order. */
function args<O extends NonNullable<Parameters<typeof parseArgs>[0]>["options"]>(
  argv: string[],
  need: string[],
  options: O,
) {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  if (positionals.length < need.length) throw new Error(`missing <${need[positionals.length]}>`);
  return { values, positionals: positionals as string[] };
}

/** A value typed on the command line, for the type of an existing flag. */
async function valueFor(key: string, raw: string) {
  return parseFlagValue((await getFlag(key)).definition.type, raw);
}

const list = (raw: string | undefined) =>
  raw
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * `npm run admin -- flags <command>`: feature flags. Every change is a new version (see
 * `history`, `rollback`) and reaches the running API within FLAGS_CACHE_SECONDS.
 */
export const commands: Record<string, AdminCommand> = {
  list: {
    usage: "",
    run: async () => {
      for (const f of await listFlags()) {
        const d = f.definition;
        const parts = [
          `${f.key} (${d.type}, v${f.version}${f.source === "built-in" ? ", built-in" : ""})`,
          `default=${JSON.stringify(d.default)}`,
          d.rules.length ? `rules=${d.rules.map((r) => r.id).join(",")}` : "",
          d.rollout ? `rollout=${d.rollout.percentage}%→${JSON.stringify(d.rollout.value)}` : "",
          Object.keys(d.overrides).length ? `overrides=${Object.keys(d.overrides).length}` : "",
          d.killed ? `KILLED${d.kill_reason ? ` (${d.kill_reason})` : ""}` : "",
        ];
        console.log(parts.filter(Boolean).join("  "));
      }
    },
  },
  show: {
    usage: "<key>",
    run: async (argv) => print(await getFlag(args(argv, ["key"], {}).positionals[0] as string)),
  },
  "set-default": {
    usage: "<key> <value> [--type boolean|string|number --description <text>]  (--type creates a new flag)",
    run: async (argv) => {
      const { values, positionals } = args(argv, ["key", "value"], {
        type: { type: "string" },
        description: { type: "string" },
      });
      const [key, raw] = positionals as [string, string];
      if (values.type) {
        const type = FlagType.parse(values.type);
        print(
          await updateFlag(
            key,
            { type, default: parseFlagValue(type, raw), description: values.description },
            actor(),
          ),
        );
      } else {
        print(await setDefault(key, await valueFor(key, raw), actor()));
      }
    },
  },
  "set-rollout": {
    usage: "<key> <percentage 0-100> [--value <value>]  (0 without --value removes the rollout)",
    run: async (argv) => {
      const { values, positionals } = args(argv, ["key", "percentage"], { value: { type: "string" } });
      const [key, raw] = positionals as [string, string];
      const percentage = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(percentage) || percentage < 0 || percentage > 100) {
        throw new Error("<percentage> must be a number from 0 to 100");
      }
      const value = values.value === undefined ? undefined : await valueFor(key, values.value);
      print(await setRollout(key, percentage, value, actor()));
    },
  },
  "add-rule": {
    usage:
      "<key> --id <id> --value <value> [--plans free,pro] [--min <version>] [--max <version>] [--users a,b]",
    run: async (argv) => {
      const { values, positionals } = args(argv, ["key"], {
        id: { type: "string" },
        value: { type: "string" },
        plans: { type: "string" },
        min: { type: "string" },
        max: { type: "string" },
        users: { type: "string" },
      });
      const key = positionals[0] as string;
      if (!values.id || values.value === undefined) throw new Error("--id and --value are required");
      const rule = TargetingRule.parse({
        id: values.id,
        value: await valueFor(key, values.value),
        plans: list(values.plans),
        extension_version: values.min || values.max ? { min: values.min, max: values.max } : undefined,
        user_ids: list(values.users),
      });
      print(await addRule(key, rule, actor()));
    },
  },
  "remove-rule": {
    usage: "<key> <rule id>",
    run: async (argv) => {
      const [key, id] = args(argv, ["key", "rule id"], {}).positionals as [string, string];
      print(await removeRule(key, id, actor()));
    },
  },
  override: {
    usage: "<key> --user <id> --value <value> | <key> --user <id> --clear",
    run: async (argv) => {
      const { values, positionals } = args(argv, ["key"], {
        user: { type: "string" },
        value: { type: "string" },
        clear: { type: "boolean" },
      });
      const key = positionals[0] as string;
      if (!values.user) throw new Error("--user is required");
      if (!values.clear && values.value === undefined) throw new Error("--value or --clear is required");
      const value = values.clear ? null : await valueFor(key, values.value as string);
      print(await setOverride(key, values.user, value, actor()));
    },
  },
  kill: {
    usage: "<key> [--reason <text>]",
    run: async (argv) => {
      const { values, positionals } = args(argv, ["key"], { reason: { type: "string" } });
      print(await killFlag(positionals[0] as string, values.reason, actor()));
    },
  },
  unkill: {
    usage: "<key>",
    run: async (argv) => print(await unkillFlag(args(argv, ["key"], {}).positionals[0] as string, actor())),
  },
  history: {
    usage: "<key> [--limit <n>]",
    run: async (argv) => {
      const { values, positionals } = args(argv, ["key"], { limit: { type: "string", default: "20" } });
      const limit = Math.min(100, Math.max(1, Number(values.limit) || 20));
      for (const e of await flagHistory(positionals[0] as string, limit)) {
        const note = e.note ? ` (${e.note})` : "";
        console.log(`v${e.version}  ${e.at || "-"}  ${e.actor}  ${e.action}${note}`);
      }
    },
  },
  rollback: {
    usage: "<key> <version>  (0 = the built-in definition)",
    run: async (argv) => {
      const [key, raw] = args(argv, ["key", "version"], {}).positionals as [string, string];
      const version = Number(raw);
      if (!Number.isInteger(version) || version < 0) throw new Error("<version> must be a whole number ≥ 0");
      print(await rollbackFlag(key, version, actor()));
    },
  },
};
