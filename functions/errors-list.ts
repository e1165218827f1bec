import { ErrorGroupsQuery } from "#lib/error-reports/schema";
import { listTopGroups } from "#lib/error-reports/store";
import { route } from "#lib/http";

/** GET /system/errors (admin): the top error groups of the last days, with counts and samples. */
export const handler = route({ auth: "admin", query: ErrorGroupsQuery }, ({ query, now }) =>
  listTopGroups(query, now),
);
