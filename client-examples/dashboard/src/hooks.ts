import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, isAbort, type Document } from "./api/client";
import { useSession } from "./session";

/** The variables of a document: optional when it takes none, or only optional ones. */
type VariablesArgument<TVariables> =
  Record<string, never> extends TVariables ? [variables?: TVariables] : [variables: TVariables];

/** What a cursor-paginated field answers, as the documents select it. */
interface Connection<TNode> {
  edges: readonly { node: TNode }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  totalCount: number;
}

export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError("server", error instanceof Error ? error.message : String(error));
}

export interface QueryState<TResult> {
  data: TResult | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

export function useQuery<TResult, TVariables>(
  document: Document<TResult, TVariables>,
  ...[variables]: VariablesArgument<TVariables>
): QueryState<TResult> {
  const { request } = useSession();
  const key = JSON.stringify(variables ?? {});
  const [attempt, setAttempt] = useState(0);
  const [state, setState] = useState<Omit<QueryState<TResult>, "reload">>({
    data: null,
    error: null,
    loading: true,
  });

  useEffect(() => {
    const controller = new AbortController();
    setState((previous) => ({ ...previous, error: null, loading: true }));
    request(document, JSON.parse(key) as TVariables, controller.signal).then(
      (data) => setState({ data, error: null, loading: false }),
      (error: unknown) => {
        if (isAbort(error)) return;
        setState((previous) => ({ ...previous, error: asApiError(error), loading: false }));
      },
    );
    return () => controller.abort();
  }, [request, document, key, attempt]);

  const reload = useCallback(() => setAttempt((count) => count + 1), []);
  return { ...state, reload };
}

export interface ConnectionState<TNode> {
  nodes: TNode[];
  totalCount: number;
  hasNextPage: boolean;
  loading: boolean;
  loadingMore: boolean;
  error: ApiError | null;
  loadMore: () => void;
  reload: () => void;
}

interface Pages<TNode> {
  nodes: TNode[];
  totalCount: number;
  hasNextPage: boolean;
  endCursor: string | null;
}

const NO_PAGES = { nodes: [], totalCount: 0, hasNextPage: false, endCursor: null };

/**
 * A cursor-paginated list: the first page for `variables`, then `loadMore` appends the next.
 * The document takes `$after`; `select` finds the connection in its result.
 */
export function useConnection<TResult, TVariables extends { after?: string | null }, TNode>(
  document: Document<TResult, TVariables>,
  variables: Omit<TVariables, "after">,
  select: (data: TResult) => Connection<TNode> | null | undefined,
): ConnectionState<TNode> {
  const { request } = useSession();
  const key = JSON.stringify(variables);
  const selectRef = useRef(select);
  useEffect(() => {
    selectRef.current = select;
  });
  const [pages, setPages] = useState<Pages<TNode>>(NO_PAGES);
  const [status, setStatus] = useState<{ loading: boolean; loadingMore: boolean; error: ApiError | null }>({
    loading: true,
    loadingMore: false,
    error: null,
  });
  const [attempt, setAttempt] = useState(0);
  const controller = useRef<AbortController | null>(null);

  const fetchPage = useCallback(
    async (after: string | null, append: boolean) => {
      controller.current?.abort();
      const current = new AbortController();
      controller.current = current;
      setStatus({ loading: !append, loadingMore: append, error: null });
      try {
        const pageVariables = { ...(JSON.parse(key) as Omit<TVariables, "after">), after };
        const data = await request(document, pageVariables as TVariables, current.signal);
        const connection = selectRef.current(data);
        const nodes = connection?.edges.map((edge) => edge.node) ?? [];
        setPages((previous) => ({
          nodes: append ? [...previous.nodes, ...nodes] : nodes,
          totalCount: connection?.totalCount ?? 0,
          hasNextPage: connection?.pageInfo.hasNextPage ?? false,
          endCursor: connection?.pageInfo.endCursor ?? null,
        }));
        setStatus({ loading: false, loadingMore: false, error: null });
      } catch (error) {
        if (!isAbort(error)) setStatus({ loading: false, loadingMore: false, error: asApiError(error) });
      }
    },
    [request, document, key],
  );

  useEffect(() => {
    void fetchPage(null, false);
    return () => controller.current?.abort();
  }, [fetchPage, attempt]);

  const loadMore = useCallback(() => {
    if (pages.hasNextPage) void fetchPage(pages.endCursor, true);
  }, [fetchPage, pages.hasNextPage, pages.endCursor]);
  const reload = useCallback(() => setAttempt((count) => count + 1), []);

  return {
    nodes: pages.nodes,
    totalCount: pages.totalCount,
    hasNextPage: pages.hasNextPage,
    ...status,
    loadMore,
    reload,
  };
}

export interface Mutation<TResult, TVariables> {
  run: (variables: TVariables) => Promise<TResult | null>;
  pending: boolean;
  error: ApiError | null;
}

/** A mutation run on demand: `run` resolves to its data, or to null with `error` set. */
export function useMutation<TResult, TVariables>(
  document: Document<TResult, TVariables>,
): Mutation<TResult, TVariables> {
  const { request } = useSession();
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const run = useCallback(
    async (variables: TVariables) => {
      setPending(true);
      setError(null);
      try {
        return await request(document, variables);
      } catch (failure) {
        setError(asApiError(failure));
        return null;
      } finally {
        setPending(false);
      }
    },
    [request, document],
  );
  return { run, pending, error };
}
