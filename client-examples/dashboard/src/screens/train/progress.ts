/**
 * The live view of a session, folded from its events by a pure function: the subscription hook
 * applies each batch the server sends in one state update (one render however many events it
 * holds), a resumed stream's replayed events are skipped by their seq, and the tests drive it
 * without a server.
 */
import type {
  EndReason,
  Genre,
  SessionRecordFragment,
  SessionStatus,
  TrainingProgressBatchesSubscription,
  VotingStrategy,
} from "../../api/generated/graphql";

/** One message of `trainingProgressBatches`: events with consecutive seqs, firstSeq to lastSeq. */
export type TrainingEventBatch = TrainingProgressBatchesSubscription["trainingProgressBatches"];

/** One event, as TRAINING_PROGRESS_BATCHES selects it. */
export type TrainingEvent = TrainingEventBatch["events"][number];

export interface TeacherResponse {
  ok: boolean;
  latencyMs: number;
  textQuality: number | null;
  error: string | null;
}

export type ExampleOutcome =
  | {
      kind: "scored";
      winner: string;
      textQuality: number;
      confidence: number;
      finalQuality: number;
      savedToDatabase: boolean;
      storedInMemory: boolean;
    }
  | { kind: "failed"; error: string };

export interface ExampleProgress {
  index: number;
  genre: Genre;
  prompt: string;
  style: string | null;
  responses: Readonly<Record<string, TeacherResponse>>;
  votes: readonly { voter: string; candidate: string }[];
  outcome: ExampleOutcome | null;
}

/** What the examples finished so far used; a null cost is not known (a teacher has no price). */
export interface Spend {
  promptTokens: number;
  completionTokens: number;
  costUsd: number | null;
}

export interface FineTuningRun {
  examplesCollected: number;
  job: Extract<TrainingEvent, { __typename: "FineTuningTriggered" }>["job"];
}

export interface LiveState {
  lastSeq: number;
  status: SessionStatus | null;
  startedAt: string | null;
  teachers: readonly string[];
  votingStrategy: VotingStrategy | null;
  total: number;
  completed: number;
  failed: number;
  etaSeconds: number | null;
  qualitySum: number;
  storiesSaved: number;
  examples: ReadonlyMap<number, ExampleProgress>;
  wins: Readonly<Record<string, number>>;
  genres: Readonly<Partial<Record<Genre, number>>>;
  fineTuningRuns: readonly FineTuningRun[];
  finished: SessionRecordFragment | null;
  spend: Spend | null;
  endReason: EndReason | null;
}

export const INITIAL_STATE: LiveState = {
  lastSeq: 0,
  status: null,
  startedAt: null,
  teachers: [],
  votingStrategy: null,
  total: 0,
  completed: 0,
  failed: 0,
  etaSeconds: null,
  qualitySum: 0,
  storiesSaved: 0,
  examples: new Map(),
  wins: {},
  genres: {},
  fineTuningRuns: [],
  finished: null,
  spend: null,
  endReason: null,
};

function updateExample(
  examples: Map<number, ExampleProgress>,
  index: number,
  change: (example: ExampleProgress) => Partial<ExampleProgress>,
): void {
  const example = examples.get(index);
  if (example) examples.set(index, { ...example, ...change(example) });
}

/** The state after `events`, which follow `state.lastSeq` in order; replayed events are skipped. */
export function applyEvents(state: LiveState, events: readonly TrainingEvent[]): LiveState {
  const next = {
    ...state,
    examples: new Map(state.examples),
    wins: { ...state.wins },
    genres: { ...state.genres },
  };
  for (const event of events) {
    if (event.seq <= next.lastSeq) continue;
    next.lastSeq = event.seq;
    switch (event.__typename) {
      case "SessionStarted":
        next.status = "RUNNING";
        next.startedAt ??= event.at;
        next.teachers = event.teachers;
        next.votingStrategy = event.votingStrategy;
        next.total = event.numExamples;
        next.finished = null;
        break;
      case "ExampleStarted":
        if (!next.examples.has(event.index)) {
          next.genres[event.genre] = (next.genres[event.genre] ?? 0) + 1;
        }
        next.examples.set(event.index, {
          index: event.index,
          genre: event.genre,
          prompt: event.prompt,
          style: event.style,
          responses: {},
          votes: [],
          outcome: null,
        });
        break;
      case "TeacherResponded": {
        const response = {
          ok: event.ok,
          latencyMs: event.latencyMs,
          textQuality: event.textQuality,
          error: event.error,
        };
        updateExample(next.examples, event.index, (example) => ({
          responses: { ...example.responses, [event.model]: response },
        }));
        break;
      }
      case "VoteCast":
        updateExample(next.examples, event.index, (example) => ({
          votes: [...example.votes, { voter: event.voter, candidate: event.candidate }],
        }));
        break;
      case "ExampleScored": {
        const { winner, winnerTextQuality, confidence, finalQuality, savedToDatabase, storedInMemory } =
          event;
        updateExample(next.examples, event.index, () => ({
          outcome: {
            kind: "scored",
            winner,
            textQuality: winnerTextQuality,
            confidence,
            finalQuality,
            savedToDatabase,
            storedInMemory,
          },
        }));
        next.wins[winner] = (next.wins[winner] ?? 0) + 1;
        next.qualitySum += finalQuality;
        if (savedToDatabase) next.storiesSaved += 1;
        break;
      }
      case "ExampleFailed":
        updateExample(next.examples, event.index, () => ({
          outcome: { kind: "failed", error: event.reason },
        }));
        break;
      case "SessionProgress":
        next.completed = event.completed;
        next.failed = event.failed;
        next.total = event.total;
        next.etaSeconds = event.etaSeconds;
        if (event.promptTokens != null && event.completionTokens != null) {
          next.spend = {
            promptTokens: event.promptTokens,
            completionTokens: event.completionTokens,
            costUsd: event.costUsd,
          };
        }
        break;
      case "FineTuningTriggered":
        next.fineTuningRuns = [
          ...next.fineTuningRuns,
          { examplesCollected: event.examplesCollected, job: event.job },
        ];
        break;
      case "SessionFinished":
        next.status = event.status;
        next.finished = event.session;
        next.endReason = event.endReason;
        next.etaSeconds = null;
        break;
    }
  }
  return next;
}

/**
 * The state after one batch. A batch that only repeats what the state has seen (a resumed
 * stream's overlap) gives back the same state, so React skips the render.
 */
export function applyBatch(state: LiveState, batch: TrainingEventBatch): LiveState {
  return batch.lastSeq <= state.lastSeq ? state : applyEvents(state, batch.events);
}

export function isActive(status: SessionStatus | null): boolean {
  return status === null || status === "QUEUED" || status === "RUNNING";
}
