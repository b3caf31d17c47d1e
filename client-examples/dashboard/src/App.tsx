import { useCallback, useEffect, useState } from "react";
import { ApiError, graphqlRequest } from "./api/client";
import { VIEWER } from "./api/documents";
import { ErrorNotice, Loading } from "./components/feedback";
import { asApiError } from "./hooks";
import { href, SCREENS, useRoute, type ScreenId } from "./route";
import { CompareScreen } from "./screens/compare/CompareScreen";
import { FineTuningScreen } from "./screens/finetune/FineTuningScreen";
import { HistoryScreen } from "./screens/history/HistoryScreen";
import { StoriesScreen } from "./screens/stories/StoriesScreen";
import { TrainScreen } from "./screens/train/TrainScreen";
import { TrendsScreen } from "./screens/trends/TrendsScreen";
import { SessionProvider, useSession, type Viewer } from "./session";
import { SignIn } from "./SignIn";
import { forgetSignIn, storedToken, storeToken } from "./storage";

type Auth =
  | { state: "signed-out"; notice: string | null }
  | { state: "checking"; token: string }
  | { state: "unreachable"; token: string; error: ApiError }
  | { state: "signed-in"; token: string; viewer: Viewer };

function initialAuth(): Auth {
  const token = storedToken();
  return token ? { state: "checking", token } : { state: "signed-out", notice: null };
}

export function App() {
  const [auth, setAuth] = useState<Auth>(initialAuth);

  const signOut = useCallback((reason?: string) => {
    forgetSignIn();
    setAuth({ state: "signed-out", notice: reason ?? null });
  }, []);

  const signIn = useCallback((token: string, viewer: Viewer) => {
    storeToken(token);
    setAuth({ state: "signed-in", token, viewer });
  }, []);

  useEffect(() => {
    if (auth.state !== "checking") return;
    const controller = new AbortController();
    graphqlRequest(auth.token, VIEWER, {}, controller.signal).then(
      ({ viewer }) => setAuth({ state: "signed-in", token: auth.token, viewer }),
      (failure: unknown) => {
        if (controller.signal.aborted) return;
        const error = asApiError(failure);
        if (error.kind === "unauthenticated") signOut(`The saved token was not accepted: ${error.message}`);
        else setAuth({ state: "unreachable", token: auth.token, error });
      },
    );
    return () => controller.abort();
  }, [auth, signOut]);

  switch (auth.state) {
    case "signed-out":
      return <SignIn notice={auth.notice} onSignedIn={signIn} />;
    case "checking":
      return (
        <main className="centered">
          <Loading label="Connecting to Chorus…" />
        </main>
      );
    case "unreachable":
      return (
        <main className="centered">
          <ErrorNotice error={auth.error} onRetry={() => setAuth({ state: "checking", token: auth.token })} />
          <button type="button" className="button link" onClick={() => signOut()}>
            Sign out
          </button>
        </main>
      );
    case "signed-in":
      return (
        <SessionProvider token={auth.token} viewer={auth.viewer} onSignOut={signOut}>
          <Shell />
        </SessionProvider>
      );
  }
}

function Screen({ screen }: { screen: ScreenId }) {
  switch (screen) {
    case "train":
      return <TrainScreen />;
    case "history":
      return <HistoryScreen />;
    case "trends":
      return <TrendsScreen />;
    case "compare":
      return <CompareScreen />;
    case "stories":
      return <StoriesScreen />;
    case "fine-tuning":
      return <FineTuningScreen />;
  }
}

function Shell() {
  const { viewer, signOut } = useSession();
  const { screen } = useRoute();
  return (
    <div className="shell">
      <header className="topbar">
        <a className="brand" href={href("train")}>
          <span className="brand-mark" aria-hidden="true" /> Chorus
        </a>
        <nav className="tabs" aria-label="Screens">
          {SCREENS.map(({ id, label }) => (
            <a
              key={id}
              href={href(id)}
              className={id === screen ? "tab active" : "tab"}
              aria-current={id === screen ? "page" : undefined}
              data-testid={`nav-${id}`}
            >
              {label}
            </a>
          ))}
        </nav>
        <div className="account">
          <span data-testid="viewer-name">{viewer.name}</span>
          <button
            type="button"
            className="button small ghost"
            onClick={() => signOut()}
            data-testid="sign-out"
          >
            Sign out
          </button>
        </div>
      </header>
      <main className="content" data-testid={`screen-${screen}`}>
        <Screen screen={screen} />
      </main>
    </div>
  );
}
