/**
 * Secrets: requested by the environment, read with getSecret() or from env vars, redacted from logs.
 *   npx flyte secret create api-token --value s3cr3t
 *   npx flyte secret create password --group db --value hunter2
 *   npx flyte run examples/tour/secrets.ts main
 */
import { Secret, TaskEnvironment, getSecret } from "flyte-ts";

// A string is new Secret({ key }); its env var is derived from the key (API_TOKEN) unless asEnvVar is given.
const env = new TaskEnvironment({
  name: "tour-secrets",
  secrets: ["api-token", new Secret({ key: "password", group: "db", asEnvVar: "DB_PASSWORD" })],
});

export const main = env.task(async function main() {
  const token = getSecret("api-token");
  const password = getSecret("password", { group: "db" });
  console.log(`calling the API with token ${token}`); // the captured log line shows **** instead of the value
  return {
    tokenLength: token.length,
    tokenInEnv: process.env.API_TOKEN === token,
    passwordInEnv: process.env.DB_PASSWORD === password,
  };
});
