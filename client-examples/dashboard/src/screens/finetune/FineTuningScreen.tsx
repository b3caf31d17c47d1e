import { useState } from "react";
import { type ApiError, fetchFile } from "../../api/client";
import { FINE_TUNING } from "../../api/documents";
import type { FineTuningQuery } from "../../api/generated/graphql";
import { Empty, ErrorNotice, Loading } from "../../components/feedback";
import { ProgressBar } from "../../components/ProgressBar";
import { StatusBadge } from "../../components/StatusBadge";
import { saveFile } from "../../download";
import { formatDateTime, shortId } from "../../format";
import { asApiError, useQuery } from "../../hooks";
import { href } from "../../route";
import { useSession } from "../../session";

type FineTuneJob = FineTuningQuery["fineTuneJobs"][number];

function DownloadButton({ url, label, testId }: { url: string; label: string; testId: string }) {
  const { token, signOut } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  async function download() {
    setBusy(true);
    setError(null);
    try {
      const { file, filename } = await fetchFile(token, url);
      saveFile(file, filename);
    } catch (failure) {
      const problem = asApiError(failure);
      if (problem.kind === "unauthenticated") signOut(problem.message);
      else setError(problem);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <button type="button" className="button small" onClick={download} disabled={busy} data-testid={testId}>
        {busy ? "Downloading…" : label}
      </button>
      {error && <ErrorNotice error={error} />}
    </>
  );
}

function JobRow({ job }: { job: FineTuneJob }) {
  return (
    <tr data-testid="fine-tune-job" data-job-id={job.id}>
      <td data-label="Created">{formatDateTime(job.createdAt)}</td>
      <td data-label="Status">
        <StatusBadge status={job.status} />
      </td>
      <td data-label="Examples" className="number">
        {job.numExamples}
      </td>
      <td data-label="Backend">{job.backend}</td>
      <td data-label="Triggered by">
        {job.triggeredBySessionId ? (
          <a href={href("history", { session: job.triggeredBySessionId })}>
            {shortId(job.triggeredBySessionId)}
          </a>
        ) : (
          "—"
        )}
      </td>
      <td data-label="Result">
        {job.error ? (
          <span className="field-error">{job.error}</span>
        ) : (
          (job.fineTunedModel ?? (job.finishedAt ? "done" : "…"))
        )}
      </td>
      <td data-label="Datasets" className="downloads">
        {job.datasetUrl && <DownloadButton url={job.datasetUrl} label="Dataset" testId="download-dataset" />}
        {job.preferenceDatasetUrl && (
          <DownloadButton url={job.preferenceDatasetUrl} label="Preferences" testId="download-preferences" />
        )}
        {!job.datasetUrl && !job.preferenceDatasetUrl && "—"}
      </td>
    </tr>
  );
}

export function FineTuningScreen() {
  const { data, error, reload } = useQuery(FINE_TUNING);
  if (error) return <ErrorNotice error={error} onRetry={reload} />;
  if (!data) return <Loading label="Loading fine-tuning…" />;
  const { fineTuningExamples, untilNextFineTuning, fineTuningThreshold } = data.trainingStats;
  const collected = fineTuningThreshold - untilNextFineTuning;

  return (
    <>
      <section className="card" data-testid="fine-tuning-progress">
        <h2>Next fine-tuning run</h2>
        <p className="big-number">
          <strong data-testid="until-next" data-value={untilNextFineTuning}>
            {untilNextFineTuning}
          </strong>{" "}
          more examples of quality 7.0 or more start the next run
        </p>
        <ProgressBar
          value={collected}
          max={fineTuningThreshold}
          label="Examples collected toward the next run"
        />
        <p className="muted">
          {collected} of {fineTuningThreshold} collected for this run · {fineTuningExamples} collected in all
        </p>
      </section>
      <section className="card">
        <div className="section-head">
          <h2>Fine-tuning jobs</h2>
          <button type="button" className="button small ghost" onClick={reload}>
            Refresh
          </button>
        </div>
        {data.fineTuneJobs.length === 0 ? (
          <Empty>No fine-tuning run yet: one starts every {fineTuningThreshold} collected examples.</Empty>
        ) : (
          <table className="table" data-testid="fine-tune-jobs">
            <thead>
              <tr>
                <th scope="col">Created</th>
                <th scope="col">Status</th>
                <th scope="col" className="number">
                  Examples
                </th>
                <th scope="col">Backend</th>
                <th scope="col">Triggered by</th>
                <th scope="col">Result</th>
                <th scope="col">Datasets</th>
              </tr>
            </thead>
            <tbody>
              {data.fineTuneJobs.map((job) => (
                <JobRow key={job.id} job={job} />
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
