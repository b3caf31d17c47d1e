#!/usr/bin/env node
// Follow a Chorus training session and print each of its events on a line. The events arrive
// in batches (`trainingProgressBatches`): one websocket message carries all those of the last
// quarter second.
//
//   CHORUS_URL=http://127.0.0.1:8000 CHORUS_TOKEN=... node watch.mjs --examples 5
//   CHORUS_URL=... CHORUS_TOKEN=... node watch.mjs --session 3f2a...
//
// Exit status: 0 when the session ends COMPLETED, 1 when it ends otherwise, 2 when it cannot
// be started or followed.

import { parseArgs } from "node:util";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const START = `
  mutation Start($input: StartTrainingInput!) {
    startTraining(input: $input) { sessionId status }
  }`;

const PROGRESS = `
  subscription Progress($sessionId: String!, $afterSeq: Int, $maxDelayMs: Int!) {
    trainingProgressBatches(sessionId: $sessionId, afterSeq: $afterSeq, maxDelayMs: $maxDelayMs) {
      firstSeq lastSeq
      events {
        __typename seq
        ... on SessionStarted { numExamples teachers votingStrategy }
        ... on ExampleStarted { index genre }
        ... on TeacherResponded { index model ok latencyMs reason: error }
        ... on VoteCast { index voter candidate }
        ... on ExampleScored { index winner finalQuality }
        ... on ExampleFailed { index error }
        ... on SessionProgress { completed failed total etaSeconds }
        ... on FineTuningTriggered { examplesCollected job { status } }
        ... on SessionFinished {
          status
          session { sessionId numExamplesRequested numExamplesSuccessful averageQuality }
        }
      }
    }
  }`;

// The longest the server holds an event back to send it with the ones after it.
const MAX_DELAY_MS = 250;

const RECONNECT_ATTEMPTS = 8;
const TOKEN_HINT = "set CHORUS_TOKEN (`chorus users create NAME` prints a token)";
// The close code the server sends when it refuses the token in `connection_init`.
const WS_FORBIDDEN = 4403;

class ClientError extends Error {}

const baseUrl = (process.env.CHORUS_URL || "http://127.0.0.1:8000")
  .replace(/\/+$/, "")
  .replace(/\/graphql$/, "");
const websocketUrl = `${baseUrl.replace(/^http/, "ws")}/graphql`;
const token = process.env.CHORUS_TOKEN;

function describe(event) {
  const example = `example ${event.index}`;
  switch (event.__typename) {
    case "SessionStarted":
      return `${event.numExamples} examples, ${event.votingStrategy} vote of ${event.teachers.join(", ")}`;
    case "ExampleStarted":
      return `${example}: ${event.genre}`;
    case "TeacherResponded":
      return event.ok
        ? `${example}: ${event.model} wrote in ${event.latencyMs} ms`
        : `${example}: ${event.model} failed: ${event.reason}`;
    case "VoteCast":
      return `${example}: ${event.voter} votes for ${event.candidate}`;
    case "ExampleScored":
      return `${example}: ${event.winner} wins, final quality ${event.finalQuality.toFixed(2)}`;
    case "ExampleFailed":
      return `${example} failed: ${event.error}`;
    case "SessionProgress": {
      const eta = event.etaSeconds === null ? "-" : `${Math.round(event.etaSeconds)} s`;
      return `${event.completed + event.failed}/${event.total} done, ${event.failed} failed, ETA ${eta}`;
    }
    case "FineTuningTriggered":
      return `fine-tuning job ${event.job.status} on ${event.examplesCollected} examples`;
    case "SessionFinished":
      return event.status;
    default:
      return "";
  }
}

function graphqlError(errors) {
  const [first] = errors;
  const code = first.extensions?.code;
  if (code === "UNAUTHENTICATED")
    return new ClientError(`${baseUrl} refused the token: ${TOKEN_HINT}`);
  return new ClientError(code ? `${first.message} [${code}]` : first.message);
}

async function startSession(numExamples) {
  let response;
  try {
    response = await fetch(`${baseUrl}/graphql`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: START, variables: { input: { numExamples } } }),
    });
  } catch (error) {
    throw new ClientError(
      `cannot reach ${baseUrl} (${error.cause?.message ?? error.message}): ` +
        "is the server running? Set CHORUS_URL.",
    );
  }
  if (!response.ok) {
    throw new ClientError(`${baseUrl}/graphql answered HTTP ${response.status}: is it Chorus?`);
  }
  const body = await response.json();
  if (body.errors) throw graphqlError(body.errors);
  const started = body.data.startTraining;
  console.error(`Started session ${started.sessionId} (${started.status})`);
  return started.sessionId;
}

// graphql-ws rejects with a close event when the socket closes, with an error event when it
// cannot connect, and with the GraphQL errors when the server refuses the subscription.
function explain(problem) {
  if (Array.isArray(problem)) return graphqlError(problem);
  if (problem?.code === WS_FORBIDDEN)
    return new ClientError(`${baseUrl} refused the token: ${TOKEN_HINT}`);
  if (problem?.code !== undefined) {
    return new ClientError(
      `the connection closed (${problem.code} ${problem.reason || ""})`.trim(),
    );
  }
  const message = problem?.error?.message ?? problem?.message ?? String(problem);
  return new ClientError(
    `cannot reach ${websocketUrl} (${message}): is the server running, and CHORUS_URL right?`,
  );
}

function isTransient(problem) {
  return !Array.isArray(problem) && problem?.code !== WS_FORBIDDEN;
}

// Subscribes, and when the socket drops subscribes again after the last event seen: events
// are numbered 1, 2, 3 ... without gaps, and a batch holds consecutive ones, so none is missed;
// one a resumed stream sends again is skipped by its seq, so none is printed twice.
async function follow(sessionId) {
  let lastSeq = null;
  let failures = 0;
  let connected = false;
  let received = 0;
  let batches = 0;
  for (;;) {
    const client = createClient({
      url: websocketUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
      on: { connected: () => (connected = true) },
    });
    let reason;
    try {
      const results = client.iterate({
        query: PROGRESS,
        variables: { sessionId, afterSeq: lastSeq, maxDelayMs: MAX_DELAY_MS },
      });
      for await (const result of results) {
        if (result.errors) throw result.errors;
        const batch = result.data.trainingProgressBatches;
        failures = 0;
        batches += 1;
        for (const event of batch.events) {
          if (lastSeq !== null && event.seq <= lastSeq) continue;
          lastSeq = event.seq;
          received += 1;
          console.log(
            `${String(event.seq).padStart(4)} ${event.__typename.padEnd(19)} ${describe(event)}`,
          );
          if (event.__typename === "SessionFinished") {
            console.error(`${received} events arrived in ${batches} batches`);
            return event;
          }
        }
      }
      reason = "the server ended the stream before the session finished";
    } catch (problem) {
      if (!connected || !isTransient(problem)) throw explain(problem);
      reason = explain(problem).message;
    } finally {
      await client.dispose();
    }
    failures += 1;
    if (failures > RECONNECT_ATTEMPTS) {
      throw new ClientError(`gave up after ${RECONNECT_ATTEMPTS} attempts to reconnect: ${reason}`);
    }
    const delay = Math.min(500 * 2 ** (failures - 1), 10_000);
    console.error(`Connection lost (${reason}); subscribing again after event ${lastSeq ?? 0}`);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

function parseOptions() {
  const usage = "usage: node watch.mjs (--session ID | --examples N)";
  let values;
  try {
    ({ values } = parseArgs({
      options: { session: { type: "string" }, examples: { type: "string" } },
    }));
  } catch (error) {
    throw new ClientError(`${error.message}\n${usage}`);
  }
  if (Boolean(values.session) === Boolean(values.examples)) throw new ClientError(usage);
  if (values.examples !== undefined && !/^\d+$/.test(values.examples)) {
    throw new ClientError(`--examples takes a whole number; got ${values.examples}`);
  }
  return values;
}

async function main() {
  const options = parseOptions();
  if (!token) throw new ClientError(`no token: ${TOKEN_HINT}`);
  if (!/^https?:\/\/[^/]/.test(baseUrl)) {
    throw new ClientError(`CHORUS_URL must look like http://host:port; got ${baseUrl}`);
  }
  const sessionId = options.session ?? (await startSession(Number(options.examples)));
  const finished = await follow(sessionId);
  const { session } = finished;
  const quality =
    session.averageQuality === null ? "" : `, average quality ${session.averageQuality}`;
  console.log(
    `Session ${session.sessionId} ${finished.status}: ${session.numExamplesSuccessful} of ` +
      `${session.numExamplesRequested} examples succeeded${quality}`,
  );
  return finished.status === "COMPLETED" ? 0 : 1;
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  (error) => {
    console.error(
      `error: ${error instanceof ClientError ? error.message : (error?.stack ?? error)}`,
    );
    process.exitCode = 2;
  },
);
