import type { SessionRecordFragment as SessionRecord } from "../../api/generated/graphql";

type Cell = string | number | boolean | null;

const COLUMNS: [string, (session: SessionRecord) => Cell][] = [
  ["sessionId", (s) => s.sessionId],
  ["status", (s) => s.status],
  ["startedAt", (s) => s.startedAt],
  ["completedAt", (s) => s.completedAt],
  ["totalTimeSeconds", (s) => s.totalTimeSeconds],
  ["numExamplesRequested", (s) => s.numExamplesRequested],
  ["numExamplesSuccessful", (s) => s.numExamplesSuccessful],
  ["numExamplesFailed", (s) => s.numExamplesFailed],
  ["averageQuality", (s) => s.averageQuality],
  ["minQuality", (s) => s.minQuality],
  ["maxQuality", (s) => s.maxQuality],
  ["bestPerformingModel", (s) => s.bestPerformingModel],
  ["votingStrategy", (s) => s.votingStrategy],
  ["teachers", (s) => s.teachers.join(";")],
  ["genresSelected", (s) => s.genresSelected.join(";")],
  ["storedInMemory", (s) => s.storedInMemory],
  ["savedToDatabase", (s) => s.savedToDatabase],
  ["storiesSavedCount", (s) => s.storiesSavedCount],
  ["trainingExamplesBefore", (s) => s.trainingExamplesBefore],
  ["trainingExamplesAfter", (s) => s.trainingExamplesAfter],
  ["fineTuningTriggered", (s) => s.fineTuningTriggered],
  ["modelPerformance", (s) => JSON.stringify(s.modelPerformance)],
  ["genreDistribution", (s) => JSON.stringify(s.genreDistribution)],
];

function csvCell(value: Cell): string {
  if (value === null) return "";
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** RFC 4180 CSV: a header line, then one line per session; lists are `;`-joined, nested data is JSON. */
export function historyCsv(sessions: readonly SessionRecord[]): string {
  const lines = [
    COLUMNS.map(([name]) => name).join(","),
    ...sessions.map((session) => COLUMNS.map(([, read]) => csvCell(read(session))).join(",")),
  ];
  return `${lines.join("\r\n")}\r\n`;
}

export function historyJson(sessions: readonly SessionRecord[]): string {
  return `${JSON.stringify(sessions, null, 2)}\n`;
}
