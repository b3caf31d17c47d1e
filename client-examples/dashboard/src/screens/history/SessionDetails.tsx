import { RESUME_TRAINING, SESSION } from "../../api/documents";
import { GENRES } from "../../api/enums";
import type { SessionRecordFragment as SessionRecord } from "../../api/generated/graphql";
import { ErrorNotice, Loading } from "../../components/feedback";
import { ModelBreakdown } from "../../components/ModelBreakdown";
import { countOf, formatCost, formatDateTime, formatTokens, genreLabel } from "../../format";
import { useMutation, useQuery } from "../../hooks";
import { navigate } from "../../route";
import { watchSession } from "../../storage";
import { ExampleList } from "./ExampleList";

function yesNo(value: boolean): string {
  return value ? "yes" : "no";
}

function SessionActions({ session }: { session: SessionRecord }) {
  const resume = useMutation(RESUME_TRAINING);

  function watch() {
    watchSession(session.sessionId);
    navigate("train");
  }

  async function resumeAndWatch() {
    if (await resume.run({ sessionId: session.sessionId })) watch();
  }

  const running = session.status === "RUNNING" || session.status === "QUEUED";
  return (
    <div className="actions">
      {running && (
        <button type="button" className="button small" onClick={watch} data-testid="watch-live">
          Watch live
        </button>
      )}
      {session.status === "INTERRUPTED" && (
        <button
          type="button"
          className="button small"
          onClick={resumeAndWatch}
          disabled={resume.pending}
          data-testid="resume"
        >
          {resume.pending ? "Resuming…" : "Resume"}
        </button>
      )}
      {resume.error && <ErrorNotice error={resume.error} />}
    </div>
  );
}

export function SessionDetails({ sessionId }: { sessionId: string }) {
  const { data, error, reload } = useQuery(SESSION, { sessionId });
  if (error) return <ErrorNotice error={error} onRetry={reload} />;
  if (!data) return <Loading label="Loading the session…" />;
  const session = data.trainingSession;
  if (!session) {
    return (
      <p className="field-error" data-testid="session-missing">
        This session does not exist or is not yours.
      </p>
    );
  }
  const genres = session.genresSelected.length
    ? session.genresSelected.map(genreLabel).join(", ")
    : `balanced random over all ${GENRES.length}`;

  return (
    <div className="session-details" data-testid="session-details">
      <dl className="facts">
        <div>
          <dt>Session ID</dt>
          <dd>
            <code data-testid="details-session-id">{session.sessionId}</code>
          </dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{formatDateTime(session.startedAt)}</dd>
        </div>
        <div>
          <dt>Completed</dt>
          <dd>{session.completedAt ? formatDateTime(session.completedAt) : "—"}</dd>
        </div>
        <div>
          <dt>Genres selected</dt>
          <dd data-testid="details-genres">{genres}</dd>
        </div>
        <div>
          <dt>Genres used</dt>
          <dd className="chips">
            {session.genreDistribution.length
              ? session.genreDistribution.map(({ genre, count }) => (
                  <span key={genre} className="chip">
                    {genreLabel(genre)} × {count}
                  </span>
                ))
              : "—"}
          </dd>
        </div>
        <div>
          <dt>Storage</dt>
          <dd data-testid="details-storage">
            memory {yesNo(session.storedInMemory)} · database {yesNo(session.savedToDatabase)} ·{" "}
            {countOf(session.storiesSavedCount, "story", "stories")} saved
          </dd>
        </div>
        <div>
          <dt>Ensemble</dt>
          <dd>
            {session.votingStrategy.toLowerCase()} vote of{" "}
            {session.teachers.length ? session.teachers.join(", ") : "—"}
          </dd>
        </div>
        <div>
          <dt>Fine-tuning</dt>
          <dd data-testid="details-fine-tuning">
            {session.fineTuningTriggered ? "triggered a fine-tuning run" : "not triggered"} · examples
            collected {session.trainingExamplesBefore} → {session.trainingExamplesAfter ?? "—"}
          </dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd data-testid="details-cost">
            {formatCost(session.costUsd)} · {formatTokens(session.promptTokens, session.completionTokens)}
            {session.maxCostUsd != null &&
              ` · budget ${formatCost(session.maxCostUsd)}${session.endReason === "BUDGET_REACHED" ? ", reached" : ""}`}
          </dd>
        </div>
      </dl>
      <SessionActions session={session} />
      <h4>Model performance</h4>
      <ModelBreakdown performance={session.modelPerformance} />
      <h4>Examples and votes</h4>
      <ExampleList sessionId={sessionId} />
    </div>
  );
}
