import { parseArgs } from "node:util";
import { readHealthSettings, SERVICE_NAMES, ServiceStatus, writeHealthSettings } from "#lib/health";
import type { AdminCommand } from "../admin.ts";

/** `npm run admin -- health <command>`: maintenance window, notices and forced statuses. */
export const commands: Record<string, AdminCommand> = {
  show: {
    usage: "",
    run: async () => console.log(JSON.stringify(await readHealthSettings(), null, 2)),
  },
  maintenance: {
    usage: "--start <iso> --end <iso> --message <text> | --clear",
    run: async (args) => {
      const { values } = parseArgs({
        args,
        options: {
          start: { type: "string" },
          end: { type: "string" },
          message: { type: "string" },
          clear: { type: "boolean" },
        },
      });
      const settings = await readHealthSettings();
      if (values.clear) settings.maintenance_window = null;
      else {
        if (!values.start || !values.end)
          throw new Error("--start and --end are required (ISO-8601 instants)");
        settings.maintenance_window = {
          start: new Date(values.start).toISOString(),
          end: new Date(values.end).toISOString(),
          message: values.message ?? "Scheduled maintenance",
        };
      }
      await writeHealthSettings(settings);
      console.log(JSON.stringify(settings.maintenance_window));
    },
  },
  notice: {
    usage: "--id <id> --message <text> [--level info|warning|critical] [--until <iso>] | --id <id> --remove",
    run: async (args) => {
      const { values } = parseArgs({
        args,
        options: {
          id: { type: "string" },
          message: { type: "string" },
          level: { type: "string", default: "info" },
          until: { type: "string" },
          remove: { type: "boolean" },
        },
      });
      if (!values.id) throw new Error("--id is required");
      const settings = await readHealthSettings();
      settings.notices = settings.notices.filter((n) => n.id !== values.id);
      if (!values.remove) {
        if (!values.message) throw new Error("--message is required");
        settings.notices.push({
          id: values.id,
          level: values.level as "info" | "warning" | "critical",
          message: values.message,
          until: values.until ? new Date(values.until).toISOString() : undefined,
        });
      }
      await writeHealthSettings(settings);
      console.log(JSON.stringify(settings.notices));
    },
  },
  force: {
    usage: `--service <${SERVICE_NAMES.join("|")}> --status <${ServiceStatus.options.join("|")}> | --service <name> --clear`,
    run: async (args) => {
      const { values } = parseArgs({
        args,
        options: { service: { type: "string" }, status: { type: "string" }, clear: { type: "boolean" } },
      });
      const service = SERVICE_NAMES.find((s) => s === values.service);
      if (!service) throw new Error(`--service must be one of ${SERVICE_NAMES.join(", ")}`);
      const settings = await readHealthSettings();
      if (values.clear) delete settings.forced[service];
      else settings.forced[service] = ServiceStatus.parse(values.status);
      await writeHealthSettings(settings);
      console.log(JSON.stringify(settings.forced));
    },
  },
};
