import type { FineTuneStatus, SessionStatus } from "../api/generated/graphql";
import { statusLabel } from "../format";

export function StatusBadge({ status }: { status: SessionStatus | FineTuneStatus }) {
  return (
    <span className={`badge badge-${status.toLowerCase()}`} data-testid="status">
      {statusLabel(status)}
    </span>
  );
}
