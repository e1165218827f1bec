import { route } from "#lib/http";

/** OPTIONS on any path: the CORS preflight for the configured extension origins. */
export const handler = route({ auth: false }, () => undefined);
