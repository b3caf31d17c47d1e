import { createContext, useCallback, useContext, useMemo, type ReactNode } from "react";
import { ApiError, graphqlRequest, type Document } from "./api/client";
import type { ViewerQuery } from "./api/generated/graphql";

export type Viewer = ViewerQuery["viewer"];

export type Requester = <TResult, TVariables>(
  document: Document<TResult, TVariables>,
  variables: TVariables,
  signal?: AbortSignal,
) => Promise<TResult>;

export interface Session {
  token: string;
  viewer: Viewer;
  request: Requester;
  signOut: (reason?: string) => void;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession must be used inside <SessionProvider>");
  return session;
}

interface ProviderProps {
  token: string;
  viewer: Viewer;
  onSignOut: (reason?: string) => void;
  children: ReactNode;
}

export function SessionProvider({ token, viewer, onSignOut, children }: ProviderProps) {
  const request = useCallback<Requester>(
    async (document, variables, signal) => {
      try {
        return await graphqlRequest(token, document, variables, signal);
      } catch (error) {
        if (error instanceof ApiError && error.kind === "unauthenticated") {
          onSignOut(`The server no longer accepts this token: ${error.message}`);
        }
        throw error;
      }
    },
    [token, onSignOut],
  );
  const session = useMemo(
    () => ({ token, viewer, request, signOut: onSignOut }),
    [token, viewer, request, onSignOut],
  );
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}
