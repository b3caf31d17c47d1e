import { useState } from "react";
import { genreLabel, formatPercent, formatQuality } from "../../format";
import type { ExampleProgress, TeacherResponse } from "./progress";

interface Props {
  example: ExampleProgress;
  teachers: readonly string[];
  text: string | null | undefined;
}

function ResponseChip({ teacher, response }: { teacher: string; response: TeacherResponse | undefined }) {
  const state = response === undefined ? "pending" : response.ok ? "ok" : "failed";
  return (
    <li
      className={`response ${state}`}
      data-testid="teacher-response"
      data-state={state}
      title={response?.error ?? undefined}
    >
      <span className="dot" aria-hidden="true" />
      <span className="response-name">{teacher}</span>
      <span className="response-detail">
        {response === undefined
          ? "writing…"
          : response.ok
            ? `${response.latencyMs} ms · ${formatQuality(response.textQuality)}`
            : `failed · ${response.latencyMs} ms`}
      </span>
    </li>
  );
}

function WinnerText({ text }: { text: string | null | undefined }) {
  const [open, setOpen] = useState(false);
  if (text === undefined) return <p className="winner-text muted">Loading the winning story…</p>;
  if (text === null) return <p className="winner-text muted">The winning story has no stored text.</p>;
  return (
    <div className="winner-text-block">
      <p className={open ? "winner-text" : "winner-text clamped"} data-testid="winner-text">
        {text}
      </p>
      <button type="button" className="button link small" onClick={() => setOpen(!open)}>
        {open ? "Show less" : "Read the whole story"}
      </button>
    </div>
  );
}

export function ExampleCard({ example, teachers, text }: Props) {
  const { outcome } = example;
  const state = outcome?.kind ?? "running";
  return (
    <article
      className={`example-card ${state}`}
      data-testid="example-card"
      data-index={example.index}
      data-state={state}
    >
      <header className="example-head">
        <span className="example-index">#{example.index + 1}</span>
        <span className="chip">{genreLabel(example.genre)}</span>
        <span className={`example-state ${state}`}>
          {state === "running" ? "In progress" : state === "scored" ? "Scored" : "Failed"}
        </span>
      </header>
      <p className="prompt">
        {example.prompt}
        {example.style && <span className="style"> · {example.style}</span>}
      </p>
      <ul className="responses">
        {teachers.map((teacher) => (
          <ResponseChip key={teacher} teacher={teacher} response={example.responses[teacher]} />
        ))}
      </ul>
      {example.votes.length > 0 && (
        <div className="votes" aria-label="Votes">
          <span className="votes-label">Votes</span>
          {example.votes.map((vote, position) => (
            <span key={position} className="vote" data-testid="vote">
              {vote.voter} → {vote.candidate}
            </span>
          ))}
        </div>
      )}
      {outcome?.kind === "scored" && (
        <div className="winner" data-testid="example-winner" data-winner={outcome.winner}>
          <p className="winner-line">
            Winner <strong>{outcome.winner}</strong>
            <span>confidence {formatPercent(outcome.confidence)}</span>
            <span>
              final quality <strong data-testid="final-quality">{formatQuality(outcome.finalQuality)}</strong>
            </span>
            {outcome.savedToDatabase && <span className="tag tag-success">saved</span>}
            {outcome.storedInMemory && <span className="tag">in memory</span>}
          </p>
          <WinnerText text={text} />
        </div>
      )}
      {outcome?.kind === "failed" && <p className="field-error">{outcome.error}</p>}
    </article>
  );
}
