export const GENRES = [
  "ADVENTURE",
  "BIOGRAPHY",
  "COMEDY",
  "CONTEMPORARY",
  "CRIME",
  "DRAMA",
  "DYSTOPIAN",
  "EPIC",
  "FAIRY_TALE",
  "FANTASY",
  "HISTORICAL_FICTION",
  "HORROR",
  "LITERARY_FICTION",
  "MEMOIR",
  "MYSTERY",
  "MYTHOLOGY",
  "PARANORMAL",
  "POETRY",
  "ROMANCE",
  "SCIENCE_FICTION",
  "SHORT_STORY",
  "THRILLER",
  "URBAN_FANTASY",
  "WESTERN",
  "YOUNG_ADULT",
] as const;
export type Genre = (typeof GENRES)[number];

/** Examples of final quality 7.0 or more that start a fine-tuning run. */
export const FINE_TUNING_THRESHOLD = 50;

export const SESSION_STATUSES = [
  "QUEUED",
  "RUNNING",
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "INTERRUPTED",
] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

export const VOTING_STRATEGIES = ["JURY", "CONSENSUS", "QUALITY"] as const;
export type VotingStrategy = (typeof VOTING_STRATEGIES)[number];

export type HistoryOrder = "STARTED_AT_DESC" | "STARTED_AT_ASC" | "AVERAGE_QUALITY_DESC";
export type FineTuneStatus = "VALIDATING_FILES" | "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "CANCELLED";

export interface PageInfo {
  hasNextPage: boolean;
  endCursor: string | null;
}

export interface Connection<T> {
  edges: { node: T }[];
  pageInfo: PageInfo;
  totalCount: number;
}

export interface Viewer {
  userId: number;
  name: string;
}

export interface Teacher {
  name: string;
  provider: string;
  model: string;
  available: boolean;
  offline: boolean;
  maxConcurrency: number;
  averageLatencyMs: number | null;
}

export interface ModelPerformance {
  model: string;
  wins: number;
  averageQuality: number;
  totalQuality: number;
}

export interface GenreCount {
  genre: Genre;
  count: number;
}

export interface SessionSummary {
  sessionId: string;
  status: SessionStatus;
  numExamplesRequested: number;
  numExamplesSuccessful: number;
  numExamplesFailed: number;
  averageQuality: number | null;
  minQuality: number | null;
  maxQuality: number | null;
  bestPerformingModel: string | null;
  totalTimeSeconds: number | null;
  startedAt: string;
  completedAt: string | null;
}

export interface SessionRecord extends SessionSummary {
  genresSelected: Genre[];
  storedInMemory: boolean;
  savedToDatabase: boolean;
  storiesSavedCount: number;
  votingStrategy: VotingStrategy;
  teachers: string[];
  trainingExamplesBefore: number;
  trainingExamplesAfter: number | null;
  fineTuningTriggered: boolean;
  modelPerformance: ModelPerformance[];
  genreDistribution: GenreCount[];
}

export interface Vote {
  voter: string;
  candidate: string;
}

export interface TeacherOutput {
  model: string;
  text: string | null;
  latencyMs: number | null;
  textQuality: number | null;
  error: string | null;
}

export interface TrainingExample {
  index: number;
  genre: Genre;
  prompt: string;
  style: string | null;
  status: "SUCCEEDED" | "FAILED";
  winner: string | null;
  text: string | null;
  textQuality: number | null;
  confidence: number | null;
  finalQuality: number | null;
  error: string | null;
  votes: Vote[];
  outputs: TeacherOutput[];
}

export interface TrainingStats {
  totalSessions: number;
  totalExamplesGenerated: number;
  totalStoriesSaved: number;
  averageQuality: number | null;
  totalTrainingTimeSeconds: number;
  fineTuningSessionsCount: number;
  fineTuningExamples: number;
  untilNextFineTuning: number;
}

export interface HistoryFilter {
  startedAfter?: string;
  startedBefore?: string;
  genre?: Genre;
  minAverageQuality?: number;
  status?: SessionStatus;
  fineTuningTriggered?: boolean;
}

export interface LeaderboardEntry {
  model: string;
  wins: number;
  averageQuality: number;
  sessions: number;
}

export interface QualityPoint {
  day: string;
  sessions: number;
  averageQuality: number | null;
}

export interface Story {
  id: string;
  title: string;
  genre: Genre;
  content: string;
  quality: number;
  model: string;
  sessionId: string | null;
  createdAt: string;
}

export interface FineTuneJob {
  id: string;
  status: FineTuneStatus;
  backend: string;
  numExamples: number;
  triggeredBySessionId: string | null;
  datasetUrl: string | null;
  preferenceDatasetUrl: string | null;
  fineTunedModel: string | null;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

interface EventBase {
  seq: number;
  sessionId: string;
  at: string;
}

export type TrainingEvent = EventBase &
  (
    | {
        __typename: "SessionStarted";
        numExamples: number;
        teachers: string[];
        votingStrategy: VotingStrategy;
      }
    | { __typename: "ExampleStarted"; index: number; genre: Genre; prompt: string; style: string | null }
    | {
        __typename: "TeacherResponded";
        index: number;
        model: string;
        ok: boolean;
        latencyMs: number;
        textQuality: number | null;
        error: string | null;
      }
    | { __typename: "VoteCast"; index: number; voter: string; candidate: string }
    | {
        __typename: "ExampleScored";
        index: number;
        winner: string;
        winnerTextQuality: number;
        confidence: number;
        finalQuality: number;
        savedToDatabase: boolean;
        storedInMemory: boolean;
      }
    | { __typename: "ExampleFailed"; index: number; reason: string }
    | {
        __typename: "SessionProgress";
        completed: number;
        failed: number;
        total: number;
        etaSeconds: number | null;
      }
    | {
        __typename: "FineTuningTriggered";
        examplesCollected: number;
        job: Pick<FineTuneJob, "id" | "status" | "numExamples">;
      }
    | { __typename: "SessionFinished"; status: SessionStatus; session: SessionRecord }
  );
