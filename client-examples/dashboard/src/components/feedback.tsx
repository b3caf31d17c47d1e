import type { ReactNode } from "react";
import type { ApiError } from "../api/client";

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p className="loading" role="status" data-testid="loading">
      <span className="spinner" aria-hidden="true" />
      {label}
    </p>
  );
}

export function ErrorNotice({ error, onRetry }: { error: ApiError; onRetry?: () => void }) {
  const title = error.kind === "network" ? "Connection problem" : "Something went wrong";
  return (
    <div className="notice notice-error" role="alert" data-testid="error">
      <strong>{title}</strong>
      <p>
        <ServerMessage text={error.message} />
      </p>
      {onRetry && (
        <button type="button" className="button small" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

/**
 * A message from the server. Its messages quote commands and fields in backticks
 * (`chorus tokens create NAME`); they are shown as code.
 */
export function ServerMessage({ text }: { text: string }) {
  const parts = text.split("`");
  if (parts.length % 2 === 0) return text; // an unpaired backtick: the text as it is
  return parts.map((part, index) => (index % 2 ? <code key={index}>{part}</code> : part));
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <p className="empty" data-testid="empty">
      {children}
    </p>
  );
}
