import { createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyOptions, jwtVerify } from "jose";
import { type Config, config } from "#lib/config";
import { AppError } from "#lib/errors";
import { log } from "#lib/log";

/** The caller, as the verified token says. The id comes only from `sub`. */
export interface AuthUser {
  id: string;
  /** The `plan` claim, when the identity provider sends one; seeds a new user's plan. */
  plan?: string;
  roles: string[];
}

export type VerifierConfig = Pick<
  Config,
  "JWT_JWKS_URL" | "JWT_LOCAL_SECRET" | "JWT_ISSUER" | "JWT_AUDIENCE" | "JWT_CLOCK_TOLERANCE_S"
>;

export type Verifier = (authorization: string | undefined) => Promise<AuthUser>;

/** Algorithms accepted per mode: asymmetric only with a JWKS, so a public key can never act as an HMAC secret. */
const JWKS_ALGORITHMS = ["RS256", "ES256"];
const LOCAL_ALGORITHMS = ["HS256"];
const MAX_TOKEN_LENGTH = 8192;

/** The 401 every authentication failure becomes; the reason goes to the log only. */
export function invalidToken(reason: string, detail = "Could not validate credentials"): AppError {
  return new AppError("UNAUTHORIZED", detail, {
    headers: { "WWW-Authenticate": 'Bearer error="invalid_token"' },
    cause: reason,
  });
}

/**
 * Creates a token verifier. With a JWKS URL (production) it accepts RS256/ES256 tokens signed
 * by a key of that set; otherwise HS256 tokens signed with the local secret. Issuer and
 * audience are always required, with a small clock tolerance. The JWKS is fetched lazily,
 * cached by jose and shared by every call of this verifier (one per cold start).
 */
export function createVerifier(cfg: VerifierConfig): Verifier {
  const claims = {
    issuer: cfg.JWT_ISSUER,
    audience: cfg.JWT_AUDIENCE,
    clockTolerance: cfg.JWT_CLOCK_TOLERANCE_S,
    requiredClaims: ["sub", "exp"],
  };
  let verify: (token: string) => Promise<{ payload: JWTPayload }>;
  if (cfg.JWT_JWKS_URL) {
    const keySet = createRemoteJWKSet(new URL(cfg.JWT_JWKS_URL), {
      timeoutDuration: 2000,
      cooldownDuration: 30_000,
    });
    const options: JWTVerifyOptions = { ...claims, algorithms: JWKS_ALGORITHMS };
    verify = (token) => jwtVerify(token, keySet, options);
  } else if (cfg.JWT_LOCAL_SECRET) {
    const secret = new TextEncoder().encode(cfg.JWT_LOCAL_SECRET);
    const options: JWTVerifyOptions = { ...claims, algorithms: LOCAL_ALGORITHMS };
    verify = (token) => jwtVerify(token, secret, options);
  } else {
    throw new Error("createVerifier needs JWT_JWKS_URL or JWT_LOCAL_SECRET");
  }

  return async (authorization) => {
    if (!authorization) throw invalidToken("missing authorization header", "Not authenticated");
    const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(authorization);
    if (!match?.[1]) throw invalidToken("authorization header is not a Bearer token");
    const token = match[1];
    if (token.length > MAX_TOKEN_LENGTH) throw invalidToken("token too long");

    let payload: JWTPayload;
    try {
      payload = (await verify(token)).payload;
    } catch (error) {
      const reason = error instanceof errors.JOSEError ? `${error.code}: ${error.message}` : String(error);
      if (error instanceof errors.JWKSTimeout) {
        throw new AppError("UNAVAILABLE", "The identity provider cannot be reached; try again shortly", {
          headers: { "Retry-After": "5" },
          cause: reason,
        });
      }
      throw invalidToken(reason);
    }

    const sub = payload.sub;
    if (typeof sub !== "string" || sub.length === 0 || sub.length > 256) throw invalidToken("bad sub claim");
    const roles = rolesOf(payload);
    const plan = typeof payload.plan === "string" && payload.plan.length <= 32 ? payload.plan : undefined;
    return { id: sub, plan, roles };
  };
}

function rolesOf(payload: JWTPayload): string[] {
  const raw = payload.roles ?? payload.role;
  if (typeof raw === "string") return [raw];
  if (Array.isArray(raw)) return raw.filter((r): r is string => typeof r === "string");
  return [];
}

let verifier: Verifier | undefined;

/** Verifies an Authorization header with this process's configuration (verifier built once). */
export function authenticate(authorization: string | undefined): Promise<AuthUser> {
  verifier ??= createVerifier(config);
  return verifier(authorization);
}

/** Throws 403 unless the user carries the configured admin role. */
export function requireAdmin(user: AuthUser): void {
  if (!user.roles.includes(config.ADMIN_ROLE)) {
    log("warn", "admin route refused", { user_id: user.id });
    throw new AppError("FORBIDDEN", "This route needs the admin role");
  }
}
