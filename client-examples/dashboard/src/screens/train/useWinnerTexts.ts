import { useEffect, useRef, useState } from "react";
import { type ApiError, isAbort } from "../../api/client";
import { EXAMPLE_TEXTS } from "../../api/documents";
import { asApiError } from "../../hooks";
import { useSession } from "../../session";

export interface WinnerTexts {
  texts: ReadonlyMap<number, string | null>;
  error: ApiError | null;
}

const THROTTLE_MS = 400;

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = window.setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        window.clearTimeout(timer);
        reject(new DOMException("Aborted", "AbortError"));
      },
      { once: true },
    );
  });
}

/**
 * The stored text of each finished example, read while the session runs, at most one read
 * every THROTTLE_MS. Examples are recorded in the order they finish, so the cursor moves only
 * past a gap-free run of indexes; the few examples beyond an unfinished one are read again.
 */
export function useWinnerTexts(sessionId: string, finished: number): WinnerTexts {
  const { request } = useSession();
  const [texts, setTexts] = useState<ReadonlyMap<number, string | null>>(new Map());
  const [error, setError] = useState<ApiError | null>(null);
  const wanted = useRef(finished);
  const wake = useRef<() => void>(() => undefined);

  useEffect(() => {
    wanted.current = finished;
    wake.current();
  }, [finished]);

  useEffect(() => {
    const controller = new AbortController();
    let cursor: string | null = null;
    let nextIndex = 0;
    let loadedFor = 0;
    let running = false;
    setTexts(new Map());
    setError(null);

    async function readRecorded() {
      const found = new Map<number, string | null>();
      let after = cursor;
      let contiguous = true;
      for (;;) {
        const data = await request(EXAMPLE_TEXTS, { sessionId, after }, controller.signal);
        const examples = data.trainingSession?.examples;
        if (!examples) break;
        for (const edge of examples.edges) {
          found.set(edge.node.index, edge.node.text);
          contiguous &&= edge.node.index === nextIndex;
          if (contiguous) {
            cursor = edge.cursor;
            nextIndex += 1;
          }
        }
        if (!examples.pageInfo.hasNextPage) break;
        after = examples.pageInfo.endCursor;
      }
      if (found.size) setTexts((previous) => new Map([...previous, ...found]));
    }

    async function pump() {
      if (running) return;
      running = true;
      try {
        while (wanted.current > loadedFor) {
          await delay(THROTTLE_MS, controller.signal);
          const target = wanted.current;
          await readRecorded();
          loadedFor = target;
          setError(null);
        }
      } catch (failure) {
        if (!isAbort(failure)) setError(asApiError(failure));
      } finally {
        running = false;
      }
    }

    wake.current = () => void pump();
    void pump();
    return () => {
      controller.abort();
      wake.current = () => undefined;
    };
  }, [request, sessionId]);

  return { texts, error };
}
