import { describe, expect, it } from "vitest";
import { isAllowedOrigin, LOCAL_DEFAULTS, parseConfig } from "#lib/config";

describe("configuration", () => {
  it("fills the local stage from LOCAL_DEFAULTS", () => {
    const cfg = parseConfig({});
    expect(cfg.STAGE).toBe("local");
    expect(cfg.TABLE_NAME).toBe(LOCAL_DEFAULTS.TABLE_NAME);
    expect(cfg.JWT_LOCAL_SECRET).toBe(LOCAL_DEFAULTS.JWT_LOCAL_SECRET);
  });

  it("fails a deployed stage that lacks JWKS settings with a sentence naming each variable", () => {
    expect(() => parseConfig({ STAGE: "prod", TABLE_NAME: "t-prod" })).toThrow(
      "Configuration error: JWT_ISSUER is missing; JWT_AUDIENCE is missing.",
    );
    expect(() =>
      parseConfig({ STAGE: "prod", TABLE_NAME: "t-prod", JWT_ISSUER: "i", JWT_AUDIENCE: "a" }),
    ).toThrow('JWT_JWKS_URL is required on stage "prod": local secrets are for the local stage only');
  });

  it("names a wrong value", () => {
    expect(() => parseConfig({ DB_REQUEST_TIMEOUT_MS: "soon" })).toThrow(/DB_REQUEST_TIMEOUT_MS is invalid/);
    expect(() => parseConfig({ JWT_JWKS_URL: "not a url" })).toThrow(/JWT_JWKS_URL is invalid/);
  });

  it("accepts a complete production environment and treats empty strings as unset", () => {
    const cfg = parseConfig({
      STAGE: "prod",
      TABLE_NAME: "extension-backend-prod",
      JWT_JWKS_URL: "https://auth.example.com/.well-known/jwks.json",
      JWT_ISSUER: "https://auth.example.com/",
      JWT_AUDIENCE: "extension-api",
      DYNAMODB_ENDPOINT: "",
    });
    expect(cfg.DYNAMODB_ENDPOINT).toBeUndefined();
    expect(cfg.JWT_LOCAL_SECRET).toBeUndefined();
  });

  it("refuses the local stage on a real Lambda", () => {
    expect(() => parseConfig({ AWS_LAMBDA_FUNCTION_NAME: "fn" })).toThrow(/STAGE is "local" on AWS/);
    expect(() => parseConfig({ AWS_LAMBDA_FUNCTION_NAME: "fn", IS_OFFLINE: "true" })).not.toThrow();
  });

  it("matches origins exactly or by scheme wildcard", () => {
    const allowed = ["chrome-extension://abc", "moz-extension://*"];
    expect(isAllowedOrigin("chrome-extension://abc", allowed)).toBe(true);
    expect(isAllowedOrigin("chrome-extension://abd", allowed)).toBe(false);
    expect(isAllowedOrigin("moz-extension://1234-5678", allowed)).toBe(true);
    expect(isAllowedOrigin("moz-extension://", allowed)).toBe(false);
    expect(isAllowedOrigin("https://moz-extension://x", allowed)).toBe(false);
  });
});
