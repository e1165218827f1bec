import { inject } from "vitest";

// Runs in each test file's context before it imports lib/, whose config is parsed at import.
process.env.DYNAMODB_ENDPOINT = inject("dynamoEndpoint");
