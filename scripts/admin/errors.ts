import { parseArgs } from "node:util";
import { ErrorGroupsQuery } from "#lib/error-reports/schema";
import { listTopGroups, readGroup } from "#lib/error-reports/store";
import type { AdminCommand } from "../admin.ts";

/** `npm run admin -- errors <command>`: the error groups the extension reported. */
export const commands: Record<string, AdminCommand> = {
  top: {
    usage: "[--days 1..30] [--limit 1..100] [--samples 0..10]",
    run: async (args) => {
      const { values } = parseArgs({
        args,
        options: { days: { type: "string" }, limit: { type: "string" }, samples: { type: "string" } },
      });
      const query = ErrorGroupsQuery.parse({ samples: "0", ...values });
      console.log(JSON.stringify(await listTopGroups(query, new Date()), null, 2));
    },
  },
  group: {
    usage: "--id <group id>",
    run: async (args) => {
      const { values } = parseArgs({ args, options: { id: { type: "string" } } });
      if (!values.id) throw new Error("--id is required");
      const group = await readGroup(values.id);
      if (!group) throw new Error(`no error group ${values.id}`);
      console.log(JSON.stringify(group, null, 2));
    },
  },
};
