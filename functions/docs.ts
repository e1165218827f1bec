import { AppError } from "#lib/errors";
import { type HttpHandler, route } from "#lib/http";
import {
  OPENAPI_DOCUMENT,
  REFERENCE_PAGE,
  RENDERER_CACHE_CONTROL,
  readRenderer,
  textRoute,
} from "#lib/openapi/reference";

/** GET /openapi.json, GET /docs and GET /docs/redoc.standalone.js: the API contract and its reference page. */
const routes: Record<string, HttpHandler> = {
  "GET /openapi.json": route({ auth: false }, () => OPENAPI_DOCUMENT),
  "GET /docs": textRoute("text/html; charset=utf-8", "no-cache", () => REFERENCE_PAGE),
  "GET /docs/redoc.standalone.js": textRoute(
    "application/javascript; charset=utf-8",
    RENDERER_CACHE_CONTROL,
    readRenderer,
  ),
};

const unknownRoute = route({ auth: false }, () => {
  throw new AppError("NOT_FOUND", "No such documentation route");
});

export const handler: HttpHandler = (event, context) =>
  (routes[event.routeKey] ?? unknownRoute)(event, context);
