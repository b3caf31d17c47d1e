import { useState, type FormEvent } from "react";
import { ApiError, graphqlRequest } from "./api/client";
import { VIEWER } from "./api/documents";
import { ServerMessage } from "./components/feedback";
import { asApiError } from "./hooks";
import type { Viewer } from "./session";

interface Props {
  notice: string | null;
  onSignedIn: (token: string, viewer: Viewer) => void;
}

export function SignIn({ notice, onSignedIn }: Props) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [checking, setChecking] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const candidate = token.trim();
    if (!candidate) return;
    setChecking(true);
    setError(null);
    try {
      const { viewer } = await graphqlRequest(candidate, VIEWER, {});
      onSignedIn(candidate, viewer);
    } catch (failure) {
      setError(asApiError(failure));
      setChecking(false);
    }
  }

  return (
    <main className="sign-in">
      <form className="card sign-in-card" onSubmit={submit} data-testid="sign-in">
        <h1>
          <span className="brand-mark" aria-hidden="true" /> Chorus
        </h1>
        <p>Sign in with your API token to train, watch and review your story-writing model.</p>
        {notice && (
          <p className="notice notice-warning" role="status" data-testid="sign-in-notice">
            {notice}
          </p>
        )}
        <label htmlFor="token">API token</label>
        <input
          id="token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="chorus_…"
          value={token}
          onChange={(event) => setToken(event.target.value)}
          data-testid="token-input"
        />
        {error && (
          <p className="field-error" role="alert" data-testid="sign-in-error">
            {error.kind === "unauthenticated" ? "This token was not accepted. " : ""}
            <ServerMessage text={error.message} />
          </p>
        )}
        <button
          className="button primary"
          type="submit"
          disabled={checking || !token.trim()}
          data-testid="sign-in-submit"
        >
          {checking ? "Checking…" : "Sign in"}
        </button>
        <p className="hint">
          No token yet? Run <code>chorus users create NAME</code> on the server; it prints one.
        </p>
      </form>
    </main>
  );
}
