import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVerifier, type Verifier } from "#lib/auth";
import { AppError } from "#lib/errors";
import { route } from "#lib/http";
import { eventFrom, invoke, signDevToken } from "./helpers.ts";

const ISSUER = "https://auth.example.com/";
const AUDIENCE = "extension-api";

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** Expects the verifier to refuse a header with a 401 carrying the Bearer challenge. */
async function expectRefused(verify: Verifier, header: string | undefined) {
  const error = await verify(header).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).status).toBe(401);
  expect((error as AppError).headers).toEqual({ "WWW-Authenticate": 'Bearer error="invalid_token"' });
}

describe("JWKS mode (production): RS256/ES256 tokens from the identity provider", () => {
  let server: Server;
  let verify: Verifier;
  let rsaPrivate: PrivateKey;
  let ecPrivate: PrivateKey;
  let publicPem: string;
  let publicJwk: JWK;
  let jwksRequests = 0;

  const sign = (claims: Record<string, unknown> = {}, kid = "rsa-1", key?: PrivateKey) => {
    const jwt = new SignJWT(claims).setProtectedHeader({
      alg: kid.startsWith("ec") ? "ES256" : "RS256",
      kid,
    });
    if (!("sub" in claims)) jwt.setSubject("user-1");
    if (!("iss" in claims)) jwt.setIssuer(ISSUER);
    if (!("aud" in claims)) jwt.setAudience(AUDIENCE);
    if (!("exp" in claims)) jwt.setExpirationTime("10m");
    return jwt.setIssuedAt().sign(key ?? rsaPrivate);
  };

  beforeAll(async () => {
    const rsa = await generateKeyPair("RS256", { extractable: true });
    const ec = await generateKeyPair("ES256", { extractable: true });
    rsaPrivate = rsa.privateKey;
    ecPrivate = ec.privateKey;
    publicPem = await exportSPKI(rsa.publicKey);
    publicJwk = { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" };
    const ecJwk = { ...(await exportJWK(ec.publicKey)), kid: "ec-1", alg: "ES256", use: "sig" };
    server = createServer((_req, res) => {
      jwksRequests++;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: [publicJwk, ecJwk] }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    verify = createVerifier({
      JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      JWT_LOCAL_SECRET: undefined,
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
      JWT_CLOCK_TOLERANCE_S: 30,
    });
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("accepts a valid RS256 token and takes the user only from sub, plan and roles from claims", async () => {
    const user = await verify(
      `Bearer ${await sign({ plan: "pro", roles: ["admin"], user_id: "someone-else" })}`,
    );
    expect(user).toEqual({ id: "user-1", plan: "pro", roles: ["admin"] });
  });

  it("accepts a valid ES256 token", async () => {
    expect((await verify(`Bearer ${await sign({}, "ec-1", ecPrivate)}`)).id).toBe("user-1");
  });

  it("fetches the key set once and reuses it across calls", async () => {
    const before = jwksRequests;
    for (let i = 0; i < 5; i++) await verify(`Bearer ${await sign()}`);
    expect(jwksRequests - before).toBe(0);
  });

  describe("refuses every attack with 401", () => {
    it("no token", () => expectRefused(verify, undefined));
    it("not a bearer header", () => expectRefused(verify, "Basic dXNlcjpwYXNz"));
    it("malformed token", () => expectRefused(verify, "Bearer not.a.jwt"));
    it("empty bearer", () => expectRefused(verify, "Bearer "));

    it("alg: none", async () => {
      const now = Math.floor(Date.now() / 1000);
      const token = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub: "user-1", iss: ISSUER, aud: AUDIENCE, exp: now + 600 })}.`;
      await expectRefused(verify, `Bearer ${token}`);
    });

    it("HS256 token signed with the public key (algorithm confusion)", async () => {
      for (const secret of [publicPem, JSON.stringify(publicJwk), String(publicJwk.n)]) {
        const token = await new SignJWT({})
          .setProtectedHeader({ alg: "HS256", kid: "rsa-1" })
          .setSubject("user-1")
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime("10m")
          .sign(new TextEncoder().encode(secret));
        await expectRefused(verify, `Bearer ${token}`);
      }
    });

    it("expired (beyond the clock tolerance)", async () => {
      const past = Math.floor(Date.now() / 1000) - 120;
      await expectRefused(verify, `Bearer ${await sign({ exp: past })}`);
    });

    it("not yet valid (beyond the clock tolerance)", async () => {
      const future = Math.floor(Date.now() / 1000) + 300;
      await expectRefused(verify, `Bearer ${await sign({ nbf: future })}`);
    });

    it("wrong issuer", async () =>
      expectRefused(verify, `Bearer ${await sign({ iss: "https://evil.example.com/" })}`));
    it("wrong audience", async () => expectRefused(verify, `Bearer ${await sign({ aud: "another-api" })}`));
    it("no exp claim", async () => {
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: "RS256", kid: "rsa-1" })
        .setSubject("user-1")
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .sign(rsaPrivate);
      await expectRefused(verify, `Bearer ${token}`);
    });

    it("tampered payload (sub changed, signature kept)", async () => {
      const [header, , signature] = (await sign()).split(".");
      const now = Math.floor(Date.now() / 1000);
      const forged = b64url({ sub: "victim", iss: ISSUER, aud: AUDIENCE, exp: now + 600, iat: now });
      await expectRefused(verify, `Bearer ${header}.${forged}.${signature}`);
    });

    it("unknown kid", async () => {
      const other = await generateKeyPair("RS256");
      await expectRefused(verify, `Bearer ${await sign({}, "rsa-unknown", other.privateKey)}`);
    });

    it("right kid, wrong key", async () => {
      const other = await generateKeyPair("RS256");
      await expectRefused(verify, `Bearer ${await sign({}, "rsa-1", other.privateKey)}`);
    });

    it("empty sub", async () => expectRefused(verify, `Bearer ${await sign({ sub: "" })}`));
  });
});

describe("local mode: HS256 tokens signed with the local secret", () => {
  const verify = createVerifier({
    JWT_JWKS_URL: undefined,
    JWT_LOCAL_SECRET: "local-development-secret-change-me-0123456789",
    JWT_ISSUER: "extension-backend-local",
    JWT_AUDIENCE: "extension",
    JWT_CLOCK_TOLERANCE_S: 30,
  });

  it("accepts the dev token of `npm run token`", async () => {
    const user = await verify(`Bearer ${await signDevToken({ sub: "demo-pro", plan: "pro" })}`);
    expect(user).toEqual({ id: "demo-pro", plan: "pro", roles: [] });
  });

  it("refuses a token signed with another secret", async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("demo-pro")
      .setIssuer("extension-backend-local")
      .setAudience("extension")
      .setExpirationTime("10m")
      .sign(new TextEncoder().encode("another-secret-another-secret-another-secret"));
    await expectRefused(verify, `Bearer ${token}`);
  });

  it("refuses alg: none", async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const token = `${b64url({ alg: "none" })}.${b64url({ sub: "demo-pro", iss: "extension-backend-local", aud: "extension", exp })}.`;
    await expectRefused(verify, `Bearer ${token}`);
  });
});

describe("through the HTTP wrapper", () => {
  const protectedRoute = route({ auth: true }, ({ user }) => ({ user_id: user.id }));
  const adminRoute = route({ auth: "admin" }, () => ({ ok: true }));

  it("answers 401 with detail, code, request id and the Bearer challenge, leaking no reason", async () => {
    const res = await invoke(protectedRoute, eventFrom("health", { token: "garbage.token.here" }));
    expect(res.status).toBe(401);
    expect(res.headers["WWW-Authenticate"]).toBe('Bearer error="invalid_token"');
    expect(res.body).toEqual({
      detail: "Could not validate credentials",
      code: "UNAUTHORIZED",
      request_id: "Ab1Cd2Ef3Gh=",
    });
  });

  it("answers 401 'Not authenticated' without a header", async () => {
    const res = await invoke(protectedRoute, eventFrom("health"));
    expect(res.status).toBe(401);
    expect(res.body.detail).toBe("Not authenticated");
  });

  it("passes a valid token's user to the route", async () => {
    const res = await invoke(
      protectedRoute,
      eventFrom("health", { token: await signDevToken({ sub: "u-42" }) }),
    );
    expect(res).toMatchObject({ status: 200, body: { user_id: "u-42" } });
  });

  it("refuses a user token on an admin route with 403 and accepts an admin token", async () => {
    const user = await invoke(adminRoute, eventFrom("health", { token: await signDevToken({ sub: "u-1" }) }));
    expect(user.status).toBe(403);
    expect(user.body.code).toBe("FORBIDDEN");
    const admin = await invoke(
      adminRoute,
      eventFrom("health", { token: await signDevToken({ sub: "ops", roles: ["admin"] }) }),
    );
    expect(admin.status).toBe(200);
  });
});
