import { route } from "#lib/http";
import { AnalyticsBody, AnalyticsQuery, getAnalytics } from "#lib/usage/analytics";

/** GET and POST /users/usage/analytics: the dashboard's series and totals for a period. */
export const handler = route(
  { auth: true, query: AnalyticsQuery, body: AnalyticsBody },
  async ({ user, query, body, now }) => getAnalytics(user, body?.period ?? query.period, now),
);
