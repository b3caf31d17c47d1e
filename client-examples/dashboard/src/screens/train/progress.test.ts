import { describe, expect, test } from "vitest";
import { SESSION_STATUSES } from "../../api/enums";
import type { SessionRecordFragment } from "../../api/generated/graphql";
import {
  applyBatch,
  applyEvents,
  INITIAL_STATE,
  isActive,
  type LiveState,
  type TrainingEvent,
  type TrainingEventBatch,
} from "./progress";

/** An event as a test writes it: what it says, without where it stands in the stream. */
type EventBody<Event = TrainingEvent> = Event extends unknown
  ? Omit<Event, "seq" | "sessionId" | "at">
  : never;

/** Events of one session, numbered 1, 2, 3 ... as the server numbers them. */
function eventStream(): (body: EventBody) => TrainingEvent {
  let seq = 0;
  return (body) => {
    seq += 1;
    const at = new Date(Date.UTC(2026, 2, 1, 12, 0, seq)).toISOString();
    return { ...body, seq, sessionId: "s1", at };
  };
}

const RECORD: SessionRecordFragment = {
  sessionId: "s1",
  status: "COMPLETED",
  numExamplesRequested: 2,
  numExamplesSuccessful: 1,
  numExamplesFailed: 1,
  averageQuality: 8.5,
  minQuality: 8.5,
  maxQuality: 8.5,
  bestPerformingModel: "bard",
  totalTimeSeconds: 12,
  startedAt: "2026-03-01T12:00:01.000Z",
  completedAt: "2026-03-01T12:00:13.000Z",
  promptTokens: 1800,
  completionTokens: 700,
  costUsd: 0.0021,
  maxCostUsd: null,
  endReason: "ALL_EXAMPLES_RUN",
  genresSelected: ["HORROR", "FANTASY"],
  storedInMemory: false,
  savedToDatabase: true,
  storiesSavedCount: 1,
  votingStrategy: "JURY",
  teachers: ["bard", "painter"],
  trainingExamplesBefore: 49,
  trainingExamplesAfter: 50,
  fineTuningTriggered: true,
  modelPerformance: [
    {
      model: "bard",
      wins: 1,
      averageQuality: 8.5,
      totalQuality: 8.5,
      promptTokens: 900,
      completionTokens: 350,
      costUsd: 0.00105,
    },
  ],
  genreDistribution: [
    { genre: "HORROR", count: 1 },
    { genre: "FANTASY", count: 1 },
  ],
};

/** A two-example session: the first scored and saved, the second failed, then fine-tuning. */
function wholeSession(): TrainingEvent[] {
  const event = eventStream();
  return [
    event({
      __typename: "SessionStarted",
      numExamples: 2,
      teachers: ["bard", "painter"],
      votingStrategy: "JURY",
    }),
    event({ __typename: "ExampleStarted", index: 0, genre: "HORROR", prompt: "A door", style: "gothic" }),
    event({
      __typename: "TeacherResponded",
      index: 0,
      model: "bard",
      ok: true,
      latencyMs: 120,
      textQuality: 8.1,
      error: null,
    }),
    event({
      __typename: "TeacherResponded",
      index: 0,
      model: "painter",
      ok: false,
      latencyMs: 300,
      textQuality: null,
      error: "refused",
    }),
    event({ __typename: "VoteCast", index: 0, voter: "bard", candidate: "bard" }),
    event({ __typename: "VoteCast", index: 0, voter: "painter", candidate: "bard" }),
    event({
      __typename: "ExampleScored",
      index: 0,
      winner: "bard",
      winnerTextQuality: 8.1,
      confidence: 1,
      finalQuality: 8.5,
      savedToDatabase: true,
      storedInMemory: false,
    }),
    event({
      __typename: "SessionProgress",
      completed: 1,
      failed: 0,
      total: 2,
      etaSeconds: 6,
      promptTokens: 1200,
      completionTokens: 500,
      costUsd: 0.0015,
    }),
    event({ __typename: "ExampleStarted", index: 1, genre: "FANTASY", prompt: "A map", style: null }),
    event({ __typename: "ExampleFailed", index: 1, reason: "every teacher failed" }),
    event({
      __typename: "SessionProgress",
      completed: 1,
      failed: 1,
      total: 2,
      etaSeconds: 0,
      promptTokens: 1800,
      completionTokens: 700,
      costUsd: 0.0021,
    }),
    event({
      __typename: "FineTuningTriggered",
      examplesCollected: 50,
      job: { id: "job-1", status: "QUEUED", numExamples: 50 },
    }),
    event({
      __typename: "SessionFinished",
      status: "COMPLETED",
      endReason: "ALL_EXAMPLES_RUN",
      session: RECORD,
    }),
  ];
}

describe("applyEvents", () => {
  test("follows a session from its start to its record", () => {
    const live = applyEvents(INITIAL_STATE, wholeSession());

    expect(live.lastSeq).toBe(13);
    expect(live.status).toBe("COMPLETED");
    expect(live.startedAt).toBe("2026-03-01T12:00:01.000Z");
    expect(live.teachers).toEqual(["bard", "painter"]);
    expect(live.votingStrategy).toBe("JURY");
    expect([live.total, live.completed, live.failed]).toEqual([2, 1, 1]);
    expect(live.etaSeconds).toBeNull();
    expect(live.qualitySum).toBe(8.5);
    expect(live.storiesSaved).toBe(1);
    expect(live.wins).toEqual({ bard: 1 });
    expect(live.genres).toEqual({ HORROR: 1, FANTASY: 1 });
    expect(live.fineTuningRuns).toEqual([
      { examplesCollected: 50, job: { id: "job-1", status: "QUEUED", numExamples: 50 } },
    ]);
    expect(live.finished).toBe(RECORD);
    expect(live.spend).toEqual({ promptTokens: 1800, completionTokens: 700, costUsd: 0.0021 });
    expect(live.endReason).toBe("ALL_EXAMPLES_RUN");
  });

  test("keeps an unknown cost unknown, and says when the budget stopped the session", () => {
    const event = eventStream();
    const live = applyEvents(INITIAL_STATE, [
      event({ __typename: "SessionStarted", numExamples: 9, teachers: ["bard"], votingStrategy: "QUALITY" }),
      event({
        __typename: "SessionProgress",
        completed: 1,
        failed: 0,
        total: 9,
        etaSeconds: 3,
        promptTokens: 60,
        completionTokens: 240,
        costUsd: null,
      }),
      event({
        __typename: "SessionFinished",
        status: "COMPLETED",
        endReason: "BUDGET_REACHED",
        session: { ...RECORD, endReason: "BUDGET_REACHED", maxCostUsd: 0.01 },
      }),
    ]);

    expect(live.spend).toEqual({ promptTokens: 60, completionTokens: 240, costUsd: null });
    expect(live.endReason).toBe("BUDGET_REACHED");
  });

  test("records each example's responses, votes and outcome", () => {
    const live = applyEvents(INITIAL_STATE, wholeSession());

    expect(live.examples.get(0)).toEqual({
      index: 0,
      genre: "HORROR",
      prompt: "A door",
      style: "gothic",
      responses: {
        bard: { ok: true, latencyMs: 120, textQuality: 8.1, error: null },
        painter: { ok: false, latencyMs: 300, textQuality: null, error: "refused" },
      },
      votes: [
        { voter: "bard", candidate: "bard" },
        { voter: "painter", candidate: "bard" },
      ],
      outcome: {
        kind: "scored",
        winner: "bard",
        textQuality: 8.1,
        confidence: 1,
        finalQuality: 8.5,
        savedToDatabase: true,
        storedInMemory: false,
      },
    });
    expect(live.examples.get(1)?.outcome).toEqual({ kind: "failed", error: "every teacher failed" });
  });

  test("reaches the same state one event at a time as in one batch", () => {
    const events = wholeSession();
    const stepByStep = events.reduce((state, event) => applyEvents(state, [event]), INITIAL_STATE);

    expect(stepByStep).toEqual(applyEvents(INITIAL_STATE, events));
  });

  test("skips the events a resumed stream replays", () => {
    const events = wholeSession();
    const beforeDrop = applyEvents(INITIAL_STATE, events.slice(0, 8));
    const afterReconnect = applyEvents(beforeDrop, events.slice(4));

    expect(afterReconnect).toEqual(applyEvents(INITIAL_STATE, events));
    expect(afterReconnect.examples.get(0)?.votes).toHaveLength(2);
    expect(afterReconnect.wins).toEqual({ bard: 1 });
  });

  test("leaves the state it is given as it was", () => {
    const events = wholeSession();
    const before = applyEvents(INITIAL_STATE, events.slice(0, 2));
    const snapshot = structuredClone(before);

    applyEvents(before, events.slice(2));

    expect(before).toEqual(snapshot);
    expect(INITIAL_STATE.examples.size).toBe(0);
    expect(INITIAL_STATE.wins).toEqual({});
  });

  test("counts an example's genre once when it starts again", () => {
    const event = eventStream();
    const live = applyEvents(INITIAL_STATE, [
      event({ __typename: "ExampleStarted", index: 0, genre: "HORROR", prompt: "A door", style: null }),
      event({
        __typename: "TeacherResponded",
        index: 0,
        model: "bard",
        ok: true,
        latencyMs: 100,
        textQuality: 7,
        error: null,
      }),
      event({ __typename: "ExampleStarted", index: 0, genre: "HORROR", prompt: "A door", style: null }),
    ]);

    expect(live.genres).toEqual({ HORROR: 1 });
    expect(live.examples.get(0)?.responses).toEqual({});
  });

  test("ignores what happens to an example it did not see start", () => {
    const event = eventStream();
    const live = applyEvents(INITIAL_STATE, [
      event({ __typename: "VoteCast", index: 3, voter: "bard", candidate: "painter" }),
      event({ __typename: "ExampleFailed", index: 3, reason: "timeout" }),
    ]);

    expect(live.examples.size).toBe(0);
    expect(live.lastSeq).toBe(2);
  });

  test("counts a story as saved only when the example was saved", () => {
    const event = eventStream();
    const live = applyEvents(INITIAL_STATE, [
      event({ __typename: "ExampleStarted", index: 0, genre: "POETRY", prompt: "Rain", style: null }),
      event({
        __typename: "ExampleScored",
        index: 0,
        winner: "painter",
        winnerTextQuality: 6,
        confidence: 0.5,
        finalQuality: 6.2,
        savedToDatabase: false,
        storedInMemory: true,
      }),
    ]);

    expect(live.storiesSaved).toBe(0);
    expect(live.qualitySum).toBe(6.2);
    expect(live.wins).toEqual({ painter: 1 });
  });

  test("runs again when a finished session is resumed, keeping when it first started", () => {
    const event = eventStream();
    const interrupted = applyEvents(INITIAL_STATE, [
      event({ __typename: "SessionStarted", numExamples: 4, teachers: ["bard"], votingStrategy: "QUALITY" }),
      event({
        __typename: "SessionFinished",
        status: "INTERRUPTED",
        endReason: null,
        session: { ...RECORD, status: "INTERRUPTED" },
      }),
    ]);
    const resumed = applyEvents(interrupted, [
      event({ __typename: "SessionStarted", numExamples: 4, teachers: ["bard"], votingStrategy: "QUALITY" }),
    ]);

    expect(interrupted.status).toBe("INTERRUPTED");
    expect(resumed.status).toBe("RUNNING");
    expect(resumed.finished).toBeNull();
    expect(resumed.startedAt).toBe(interrupted.startedAt);
  });
});

/** The events from `firstSeq` to `lastSeq` as one batch, the way the server sends them. */
function batch(events: readonly TrainingEvent[], firstSeq: number, lastSeq: number): TrainingEventBatch {
  return {
    firstSeq,
    lastSeq,
    events: events.filter((event) => event.seq >= firstSeq && event.seq <= lastSeq),
  };
}

/** `events` cut into batches of `size`. */
function batches(events: readonly TrainingEvent[], size: number): TrainingEventBatch[] {
  const cut: TrainingEventBatch[] = [];
  for (let first = 1; first <= events.length; first += size) {
    cut.push(batch(events, first, Math.min(first + size - 1, events.length)));
  }
  return cut;
}

function applyBatches(state: LiveState, received: readonly TrainingEventBatch[]): LiveState {
  return received.reduce(applyBatch, state);
}

describe("applyBatch", () => {
  test("comes to the state the same events reach one by one, whatever the batch size", () => {
    const events = wholeSession();
    const oneByOne = events.reduce((state, event) => applyEvents(state, [event]), INITIAL_STATE);

    for (const size of [1, 2, 5, events.length]) {
      expect(applyBatches(INITIAL_STATE, batches(events, size))).toEqual(oneByOne);
    }
  });

  test("applies a batch's events in their order, so an example started in it gets its votes", () => {
    const events = wholeSession();
    const live = applyBatches(INITIAL_STATE, [batch(events, 1, 1), batch(events, 2, 8)]);

    expect(live.lastSeq).toBe(8);
    expect(live.examples.get(0)?.responses).toHaveProperty("bard");
    expect(live.examples.get(0)?.votes).toHaveLength(2);
    expect(live.examples.get(0)?.outcome).toMatchObject({ kind: "scored", winner: "bard" });
    expect(live.completed).toBe(1);
  });

  test("applies only the new part of a batch that overlaps what was seen before a reconnect", () => {
    const events = wholeSession();
    const beforeDrop = applyBatches(INITIAL_STATE, batches(events, 4).slice(0, 2));
    const afterReconnect = applyBatches(beforeDrop, [batch(events, 6, 10), batch(events, 11, 13)]);

    expect(beforeDrop.lastSeq).toBe(8);
    expect(afterReconnect).toEqual(applyEvents(INITIAL_STATE, events));
    expect(afterReconnect.examples.get(0)?.votes).toHaveLength(2);
    expect(afterReconnect.wins).toEqual({ bard: 1 });
    expect(afterReconnect.qualitySum).toBe(8.5);
  });

  test("gives back the same state for a batch it has already seen", () => {
    const events = wholeSession();
    const first = batch(events, 1, 6);
    const live = applyBatch(INITIAL_STATE, first);

    expect(applyBatch(live, first)).toBe(live);
    expect(applyBatch(live, batch(events, 3, 5))).toBe(live);
    expect(applyBatch(live, batch(events, 7, 7))).not.toBe(live);
  });
});

describe("isActive", () => {
  test("holds until the session has ended", () => {
    const active = SESSION_STATUSES.filter(isActive);

    expect(isActive(null)).toBe(true);
    expect(active).toEqual(["QUEUED", "RUNNING"]);
  });
});
