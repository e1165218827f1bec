import { AppError } from "#lib/errors";
import {
  FlagPatch,
  flagHistory,
  getFlag,
  HistoryQuery,
  KillRequest,
  killFlag,
  listFlags,
  OverrideRequest,
  RollbackRequest,
  rollbackFlag,
  setOverride,
  unkillFlag,
  updateFlag,
} from "#lib/flags/admin";
import { type HttpEvent, type HttpHandler, route } from "#lib/http";

/** The `{key}` of the path (routing guarantees it is present). */
const keyOf = (event: HttpEvent) => event.pathParameters?.key ?? "";

/** Admin routes under /admin/flags: one Lambda, one route() per route key, all need the admin role. */
const routes: Record<string, HttpHandler> = {
  "GET /admin/flags": route({ auth: "admin" }, async () => ({ flags: await listFlags() })),
  "GET /admin/flags/{key}": route({ auth: "admin" }, ({ event }) => getFlag(keyOf(event))),
  "PUT /admin/flags/{key}": route({ auth: "admin", body: FlagPatch }, ({ event, body, user }) =>
    updateFlag(keyOf(event), body, user.id),
  ),
  "POST /admin/flags/{key}/kill": route({ auth: "admin", body: KillRequest }, ({ event, body, user }) =>
    killFlag(keyOf(event), body?.reason, user.id),
  ),
  "POST /admin/flags/{key}/unkill": route({ auth: "admin" }, ({ event, user }) =>
    unkillFlag(keyOf(event), user.id),
  ),
  "POST /admin/flags/{key}/rollback": route(
    { auth: "admin", body: RollbackRequest },
    ({ event, body, user }) => rollbackFlag(keyOf(event), body.version, user.id),
  ),
  "POST /admin/flags/{key}/overrides": route(
    { auth: "admin", body: OverrideRequest },
    ({ event, body, user }) => setOverride(keyOf(event), body.user_id, body.value, user.id),
  ),
  "GET /admin/flags/{key}/history": route(
    { auth: "admin", query: HistoryQuery },
    async ({ event, query }) => ({
      history: await flagHistory(keyOf(event), query.limit),
    }),
  ),
};

const unknownRoute = route({ auth: "admin" }, () => {
  throw new AppError("NOT_FOUND", "No such admin route");
});

export const handler: HttpHandler = (event, context) =>
  (routes[event.routeKey] ?? unknownRoute)(event, context);
