import { createClient, type FormattedExecutionResult } from "graphql-ws";
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, authorization, errorFromGraphQL, UNREACHABLE } from "../../api/client";
import { TRAINING_PROGRESS_BATCHES } from "../../api/documents";
import type {
  TrainingProgressBatchesSubscription,
  TrainingProgressBatchesSubscriptionVariables,
} from "../../api/generated/graphql";
import { useSession } from "../../session";
import { applyBatch, INITIAL_STATE, type LiveState } from "./progress";

export type StreamStatus = "connecting" | "live" | "reconnecting" | "ended" | "failed";

export interface TrainingProgress {
  live: LiveState;
  stream: StreamStatus;
  error: ApiError | null;
  retry: () => void;
}

// The server gathers a live session's events for up to this long into one message, which the
// view applies in one render: about five renders a second however fast the session runs. A
// replay comes in messages of up to 500 events, one render each.
const MAX_DELAY_MS = 200;
const MAX_RECONNECTS = 6;
const DENIED_CLOSE_CODES = new Set([4401, 4403]);

function socketUrl(): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}/graphql`;
}

function isGraphQLErrors(error: unknown): error is { message: string; extensions?: { code?: string } }[] {
  return Array.isArray(error);
}

function closeCode(error: unknown): number | null {
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "number"
    ? error.code
    : null;
}

/**
 * Follows a session's events over graphql-transport-ws, in batches. A dropped socket is reopened
 * with `afterSeq` set to the last batch's `lastSeq`, so nothing is lost or applied twice.
 */
export function useTrainingProgress(sessionId: string): TrainingProgress {
  const { token, signOut } = useSession();
  const [live, setLive] = useState<LiveState>(INITIAL_STATE);
  const [stream, setStream] = useState<StreamStatus>("connecting");
  const [error, setError] = useState<ApiError | null>(null);
  const [attempt, setAttempt] = useState(0);
  const lastSeq = useRef(0);

  useEffect(() => {
    lastSeq.current = 0;
    setLive(INITIAL_STATE);
  }, [sessionId]);

  useEffect(() => {
    let stopped = false;
    let reconnects = 0;
    let retryTimer: number | undefined;
    let unsubscribe: (() => void) | undefined;
    const client = createClient({
      url: socketUrl(),
      connectionParams: { authorization: authorization(token) },
      lazy: true,
      retryAttempts: 0,
    });

    const fail = (failure: ApiError) => {
      stop();
      if (failure.kind === "unauthenticated") {
        signOut(`The server no longer accepts this token: ${failure.message}`);
        return;
      }
      setError(failure);
      setStream("failed");
    };

    const dropped = (reason: unknown) => {
      const code = closeCode(reason);
      if (code !== null && DENIED_CLOSE_CODES.has(code)) {
        fail(new ApiError("unauthenticated", "the live connection was refused"));
      } else if (reconnects >= MAX_RECONNECTS) {
        fail(new ApiError("network", `Lost the live connection. ${UNREACHABLE}`));
      } else {
        reconnects += 1;
        setStream("reconnecting");
        retryTimer = window.setTimeout(subscribe, Math.min(1000 * 2 ** (reconnects - 1), 10_000));
      }
    };

    const receive = ({ data, errors }: FormattedExecutionResult<TrainingProgressBatchesSubscription>) => {
      if (errors?.length) {
        fail(errorFromGraphQL(errors));
        return;
      }
      const batch = data?.trainingProgressBatches;
      if (!batch || batch.lastSeq <= lastSeq.current) return;
      lastSeq.current = batch.lastSeq;
      reconnects = 0;
      setLive((state) => applyBatch(state, batch));
    };

    function subscribe() {
      const variables: TrainingProgressBatchesSubscriptionVariables = {
        sessionId,
        afterSeq: lastSeq.current || null,
        maxDelayMs: MAX_DELAY_MS,
      };
      unsubscribe = client.subscribe<TrainingProgressBatchesSubscription>(
        { query: TRAINING_PROGRESS_BATCHES.toString(), variables },
        {
          next: receive,
          error: (reason) => {
            if (stopped) return;
            if (isGraphQLErrors(reason)) fail(errorFromGraphQL(reason));
            else dropped(reason);
          },
          complete: () => {
            if (stopped) return;
            stop();
            setStream("ended");
          },
        },
      );
    }

    function stop() {
      stopped = true;
      window.clearTimeout(retryTimer);
      unsubscribe?.();
    }

    client.on("connected", () => {
      setError(null);
      setStream("live");
    });
    setStream("connecting");
    subscribe();
    return () => {
      stop();
      void client.dispose();
    };
  }, [sessionId, token, signOut, attempt]);

  const retry = useCallback(() => setAttempt((count) => count + 1), []);
  return { live, stream, error, retry };
}
