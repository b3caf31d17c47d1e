import { CANCEL_TRAINING, RESUME_TRAINING } from "../../api/documents";
import type { SessionStatus } from "../../api/generated/graphql";
import { ErrorNotice } from "../../components/feedback";
import { ProgressBar } from "../../components/ProgressBar";
import { StatusBadge } from "../../components/StatusBadge";
import {
  countOf,
  formatCost,
  formatDuration,
  formatPercent,
  formatQuality,
  formatTokens,
  shortId,
  statusLabel,
} from "../../format";
import { useMutation } from "../../hooks";
import { isActive, type LiveState } from "./progress";
import type { StreamStatus } from "./useTrainingProgress";

const STREAM_NOTES: Record<StreamStatus, string | null> = {
  connecting: "Connecting…",
  live: null,
  reconnecting: "Connection lost; reconnecting…",
  ended: null,
  failed: null,
};

function timing(live: LiveState): string {
  if (live.finished) {
    const took = formatDuration(live.finished.totalTimeSeconds);
    return live.status === "COMPLETED"
      ? `Finished in ${took}`
      : `${statusLabel(live.finished.status)} after ${took}`;
  }
  if (live.etaSeconds != null) return `${formatDuration(live.etaSeconds)} left`;
  return live.status === "RUNNING" ? "Estimating the time left…" : "Waiting for the session to start…";
}

interface ControlsProps {
  sessionId: string;
  status: SessionStatus | null;
  active: boolean;
  onResumed: () => void;
  onNewSession: () => void;
}

function Controls({ sessionId, status, active, onResumed, onNewSession }: ControlsProps) {
  const cancel = useMutation(CANCEL_TRAINING);
  const resume = useMutation(RESUME_TRAINING);

  async function resumeAndFollow() {
    if (await resume.run({ sessionId })) onResumed();
  }

  return (
    <>
      {active ? (
        <button
          type="button"
          className="button danger"
          onClick={() => void cancel.run({ sessionId })}
          disabled={cancel.pending}
          data-testid="cancel-training"
        >
          {cancel.pending ? "Cancelling…" : "Cancel"}
        </button>
      ) : (
        <>
          {status === "INTERRUPTED" && (
            <button
              type="button"
              className="button primary"
              onClick={resumeAndFollow}
              disabled={resume.pending}
              data-testid="resume-training"
            >
              {resume.pending ? "Resuming…" : "Resume"}
            </button>
          )}
          <button type="button" className="button" onClick={onNewSession}>
            New session
          </button>
        </>
      )}
      {cancel.error && <ErrorNotice error={cancel.error} />}
      {resume.error && <ErrorNotice error={resume.error} />}
    </>
  );
}

interface Props {
  sessionId: string;
  live: LiveState;
  stream: StreamStatus;
  onResumed: () => void;
  onNewSession: () => void;
}

export function LiveHeader({ sessionId, live, stream, onResumed, onNewSession }: Props) {
  const done = live.completed + live.failed;
  return (
    <section className="card live-header">
      <div className="live-title">
        <h2>
          Session <code title={sessionId}>{shortId(sessionId)}</code>
        </h2>
        {live.status && <StatusBadge status={live.status} />}
        {STREAM_NOTES[stream] && (
          <span className="stream-note" role="status" data-testid="stream-note">
            {STREAM_NOTES[stream]}
          </span>
        )}
        <span className="spacer" />
        <Controls
          sessionId={sessionId}
          status={live.status}
          active={isActive(live.status) && stream !== "ended"}
          onResumed={onResumed}
          onNewSession={onNewSession}
        />
      </div>
      <ProgressBar value={done} max={live.total} label="Examples finished" testId="progress-bar" />
      <div className="live-meta">
        <strong data-testid="progress-percent">{formatPercent(live.total ? done / live.total : 0)}</strong>
        <span data-testid="progress-count">
          {done} of {live.total || "…"} examples
        </span>
        <span>
          {live.completed} scored · {live.failed} failed
        </span>
        <span>average quality {formatQuality(live.completed ? live.qualitySum / live.completed : null)}</span>
        <span>{countOf(live.storiesSaved, "story", "stories")} saved</span>
        <span
          data-testid="live-spend"
          data-tokens={live.spend ? live.spend.promptTokens + live.spend.completionTokens : undefined}
          data-cost={live.spend?.costUsd ?? undefined}
        >
          {live.spend
            ? `${formatTokens(live.spend.promptTokens, live.spend.completionTokens)} · ${formatCost(live.spend.costUsd)}`
            : "no tokens yet"}
        </span>
        <span className="eta" data-testid="eta">
          {timing(live)}
        </span>
      </div>
      {live.endReason === "BUDGET_REACHED" && (
        <p className="notice" role="status" data-testid="budget-reached">
          Stopped at the budget of {formatCost(live.finished?.maxCostUsd)}: the next example would have passed
          it.
        </p>
      )}
    </section>
  );
}
