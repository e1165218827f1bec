import { SignJWT } from "jose";
import { LOCAL_DEFAULTS } from "#lib/config";

export interface DevTokenOptions {
  sub: string;
  plan?: string;
  roles?: string[];
  /** Lifetime in seconds (default 12 hours). */
  ttlSeconds?: number;
}

/** Signs an HS256 token that the local stack (LOCAL_DEFAULTS, or the same env overrides) accepts. */
export async function signDevToken(options: DevTokenOptions): Promise<string> {
  const secret = process.env.JWT_LOCAL_SECRET || LOCAL_DEFAULTS.JWT_LOCAL_SECRET;
  const claims: Record<string, unknown> = {};
  if (options.plan) claims.plan = options.plan;
  if (options.roles?.length) claims.roles = options.roles;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(options.sub)
    .setIssuer(process.env.JWT_ISSUER || LOCAL_DEFAULTS.JWT_ISSUER)
    .setAudience(process.env.JWT_AUDIENCE || LOCAL_DEFAULTS.JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.ttlSeconds ?? 12 * 3600))
    .sign(new TextEncoder().encode(secret));
}
