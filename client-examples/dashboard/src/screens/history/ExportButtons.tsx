import { useState } from "react";
import type { ApiError } from "../../api/client";
import { HISTORY_EXPORT } from "../../api/documents";
import type {
  HistoryExportQuery,
  HistoryOrder,
  SessionRecordFragment as SessionRecord,
  TrainingHistoryFilter,
} from "../../api/generated/graphql";
import { ErrorNotice } from "../../components/feedback";
import { saveFile, today } from "../../download";
import { asApiError } from "../../hooks";
import { useSession } from "../../session";
import { historyCsv, historyJson } from "./exportHistory";

type Format = "csv" | "json";

const FORMATS: Record<Format, { type: string; render: (sessions: readonly SessionRecord[]) => string }> = {
  csv: { type: "text/csv;charset=utf-8", render: historyCsv },
  json: { type: "application/json", render: historyJson },
};

interface Props {
  filter: TrainingHistoryFilter;
  orderBy: HistoryOrder;
}

export function ExportButtons({ filter, orderBy }: Props) {
  const { request } = useSession();
  const [progress, setProgress] = useState<{ format: Format; loaded: number; total: number | null } | null>(
    null,
  );
  const [error, setError] = useState<ApiError | null>(null);

  async function exportAs(format: Format) {
    setError(null);
    setProgress({ format, loaded: 0, total: null });
    const sessions: SessionRecord[] = [];
    let after: string | null = null;
    try {
      do {
        const page: HistoryExportQuery = await request(HISTORY_EXPORT, {
          after,
          filter,
          orderBy,
        });
        const history = page.trainingHistory;
        sessions.push(...history.edges.map((edge) => edge.node));
        setProgress({ format, loaded: sessions.length, total: history.totalCount });
        after = history.pageInfo.hasNextPage ? history.pageInfo.endCursor : null;
      } while (after);
      const { type, render } = FORMATS[format];
      saveFile(new Blob([render(sessions)], { type }), `chorus-history-${today()}.${format}`);
    } catch (failure) {
      setError(asApiError(failure));
    } finally {
      setProgress(null);
    }
  }

  return (
    <div className="export">
      <button
        type="button"
        className="button small"
        disabled={progress !== null}
        onClick={() => exportAs("csv")}
        data-testid="export-csv"
      >
        Export CSV
      </button>
      <button
        type="button"
        className="button small"
        disabled={progress !== null}
        onClick={() => exportAs("json")}
        data-testid="export-json"
      >
        Export JSON
      </button>
      {progress && (
        <span className="muted" role="status">
          Exporting {progress.loaded}
          {progress.total != null && ` of ${progress.total}`}…
        </span>
      )}
      {error && <ErrorNotice error={error} />}
    </div>
  );
}
