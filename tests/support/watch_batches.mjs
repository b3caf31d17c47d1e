// Follows one session's trainingProgressBatches with the graphql-ws client, as a browser or
// Node application would, and prints each batch as a line of JSON; an error is printed as
// {"errors": [...]} and exits with 1. The packages are the JavaScript example's.
//
//   node watch_batches.mjs <ws url> <token> <session id> [after seq] [max delay ms] [max events]
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const example = path.join(here, "..", "..", "client-examples", "javascript", "package.json");
const require = createRequire(example);
const { createClient } = await import(pathToFileURL(require.resolve("graphql-ws")).href);
const { default: WebSocket } = await import(pathToFileURL(require.resolve("ws")).href);

const [url, token, sessionId, after, delay, max] = process.argv.slice(2);
const number = (text) => (text === undefined || text === "" ? null : Number(text));

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  retryAttempts: 0,
});

const query = `subscription($id: String!, $after: Int, $delay: Int, $max: Int) {
  trainingProgressBatches(sessionId: $id, afterSeq: $after, maxDelayMs: $delay, maxEvents: $max) {
    firstSeq lastSeq events { __typename seq ... on SessionFinished { status } }
  }
}`;

let failed = false;
try {
  const subscription = client.iterate({
    query,
    variables: { id: sessionId, after: number(after), delay: number(delay), max: number(max) },
  });
  for await (const result of subscription) {
    if (result.errors) {
      console.log(JSON.stringify({ errors: result.errors }));
      failed = true;
      break;
    }
    console.log(JSON.stringify(result.data.trainingProgressBatches));
  }
} catch (error) {
  const errors = Array.isArray(error) ? error : [{ message: String(error?.message ?? error) }];
  console.log(JSON.stringify({ errors }));
  failed = true;
} finally {
  await client.dispose();
}
process.exit(failed ? 1 : 0);
