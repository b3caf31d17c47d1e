import { useState, type FormEvent } from "react";
import { START_TRAINING, TRAIN_OPTIONS } from "../../api/documents";
import { VOTING_STRATEGIES } from "../../api/enums";
import type { Genre, VotingStrategy } from "../../api/generated/graphql";
import { ErrorNotice, Loading } from "../../components/feedback";
import { Toggle } from "../../components/Toggle";
import { formatCost, formatDuration, formatNumber } from "../../format";
import { useMutation, useQuery } from "../../hooks";
import { GenreGrid } from "./GenreGrid";
import { TeacherPicker, type Teacher } from "./TeacherPicker";
import { type Estimate, useEstimate } from "./useEstimate";

const MAX_EXAMPLES = 1000;

const VOTING_HELP: Record<VotingStrategy, string> = {
  JURY: "Every teacher reads the others' stories, anonymised, and votes for one.",
  CONSENSUS: "The story most like the others wins; no extra calls.",
  QUALITY: "The story with the best text-quality score wins; no extra calls.",
};

function clampExamples(value: number): number {
  return Number.isFinite(value) ? Math.min(MAX_EXAMPLES, Math.max(1, Math.round(value))) : 1;
}

/** A budget typed in dollars: a positive number, or none. */
function parseBudget(text: string): number | null {
  const value = Number(text);
  return text.trim() && Number.isFinite(value) && value > 0 ? value : null;
}

function estimatedUse(value: Estimate["value"]): string {
  if (!value) return "";
  const tokens = `at most ${formatNumber(value.promptTokens + value.completionTokens)} tokens`;
  return value.costUsd == null
    ? `${tokens}; cost unknown: a teacher has no price`
    : `${tokens}, costing at most ${formatCost(value.costUsd)}`;
}

export function TrainForm({ onStarted }: { onStarted: (sessionId: string) => void }) {
  const options = useQuery(TRAIN_OPTIONS);
  if (options.error) return <ErrorNotice error={options.error} onRetry={options.reload} />;
  if (!options.data) return <Loading label="Loading the ensemble…" />;
  return <TrainingOptions teachers={options.data.teachers} onStarted={onStarted} />;
}

interface OptionsProps {
  teachers: readonly Teacher[];
  onStarted: (sessionId: string) => void;
}

function TrainingOptions({ teachers, onStarted }: OptionsProps) {
  const [numExamples, setNumExamples] = useState(20);
  const [genres, setGenres] = useState<Set<Genre>>(new Set());
  const [saveToDatabase, setSaveToDatabase] = useState(true);
  const [storeInMemory, setStoreInMemory] = useState(false);
  const [voting, setVoting] = useState<VotingStrategy>("JURY");
  const [budget, setBudget] = useState("");
  const [chosen, setChosen] = useState<Set<string>>(
    () => new Set(teachers.filter((teacher) => teacher.available).map((teacher) => teacher.name)),
  );
  const starting = useMutation(START_TRAINING);
  const teacherNames = teachers.map((teacher) => teacher.name).filter((name) => chosen.has(name));
  const estimate = useEstimate(numExamples, teacherNames, voting);

  async function start(event: FormEvent) {
    event.preventDefault();
    const input = {
      numExamples,
      genres: [...genres],
      saveToDatabase,
      storeInMemory,
      teachers: teacherNames,
      voting,
      maxCostUsd: parseBudget(budget),
    };
    const started = await starting.run({ input });
    if (started) onStarted(started.startTraining.sessionId);
  }

  return (
    <form className="train-form" onSubmit={start} data-testid="train-form">
      <section className="card">
        <h2>New training session</h2>
        <div className="field">
          <label htmlFor="examples">Examples</label>
          <div className="examples-row">
            <input
              id="examples"
              type="range"
              min={1}
              max={MAX_EXAMPLES}
              value={numExamples}
              onChange={(event) => setNumExamples(clampExamples(event.target.valueAsNumber))}
              data-testid="examples-slider"
            />
            <input
              type="number"
              min={1}
              max={MAX_EXAMPLES}
              value={numExamples}
              aria-label="Number of examples"
              onChange={(event) => setNumExamples(clampExamples(event.target.valueAsNumber))}
              data-testid="examples-input"
            />
          </div>
          <p className="hint" data-testid="estimate">
            {teacherNames.length === 0
              ? "Pick a teacher for a time estimate"
              : estimate.error
                ? `No time estimate: ${estimate.error.message}`
                : estimate.value == null
                  ? "Estimating the time…"
                  : `Estimated time: ${formatDuration(estimate.value.seconds)} with this ensemble`}
          </p>
          {estimate.value && (
            <p className="hint" data-testid="estimate-cost">
              {estimatedUse(estimate.value)}
            </p>
          )}
        </div>
        <div className="field">
          <label htmlFor="budget">Budget (USD, optional)</label>
          <input
            id="budget"
            type="number"
            min={0}
            step="any"
            inputMode="decimal"
            placeholder="no limit"
            value={budget}
            onChange={(event) => setBudget(event.target.value)}
            data-testid="budget-input"
          />
          <p className="hint">
            No example starts whose projected cost would pass it; every teacher needs a price.
          </p>
        </div>
        <GenreGrid selected={genres} onChange={setGenres} />
        <div className="toggles">
          <Toggle
            label="Save to Database"
            description="Stories scoring 8.0 or more are saved to your account."
            checked={saveToDatabase}
            onChange={setSaveToDatabase}
            tone="success"
            testId="save-to-database"
          />
          <Toggle
            label="Store in Memory"
            description="Examples scoring 7.0 or more become memory entries."
            checked={storeInMemory}
            onChange={setStoreInMemory}
            testId="store-in-memory"
          />
        </div>
      </section>
      <section className="card">
        <fieldset className="field">
          <legend>Voting</legend>
          <div className="voting-options">
            {VOTING_STRATEGIES.map((strategy) => (
              <label key={strategy} className={strategy === voting ? "option selected" : "option"}>
                <input
                  type="radio"
                  name="voting"
                  value={strategy}
                  checked={strategy === voting}
                  onChange={() => setVoting(strategy)}
                  data-testid={`voting-${strategy}`}
                />
                <span>
                  <strong>{strategy.charAt(0) + strategy.slice(1).toLowerCase()}</strong>
                  <small>{VOTING_HELP[strategy]}</small>
                </span>
              </label>
            ))}
          </div>
        </fieldset>
        <TeacherPicker teachers={teachers} selected={chosen} onChange={setChosen} />
        {starting.error && <ErrorNotice error={starting.error} />}
        <button
          className="button primary large"
          type="submit"
          disabled={starting.pending || teacherNames.length === 0}
          data-testid="start-training"
        >
          {starting.pending
            ? "Starting…"
            : `Start training on ${numExamples} example${numExamples === 1 ? "" : "s"}`}
        </button>
        {teacherNames.length === 0 && <p className="field-error">Pick at least one teacher.</p>}
      </section>
    </form>
  );
}
