import { useEffect, useState } from "react";
import { type ApiError, isAbort } from "../../api/client";
import { ESTIMATE } from "../../api/documents";
import type { VotingStrategy } from "../../api/generated/graphql";
import { asApiError } from "../../hooks";
import { useSession } from "../../session";

const DEBOUNCE_MS = 250;

export interface Estimate {
  seconds: number | null;
  error: ApiError | null;
}

export function useEstimate(
  numExamples: number,
  teachers: readonly string[],
  voting: VotingStrategy,
): Estimate {
  const { request } = useSession();
  const [estimate, setEstimate] = useState<Estimate>({ seconds: null, error: null });
  const teacherKey = teachers.join("\n");

  useEffect(() => {
    if (!teacherKey) {
      setEstimate({ seconds: null, error: null });
      return;
    }
    const controller = new AbortController();
    const timer = window.setTimeout(() => {
      request(ESTIMATE, { numExamples, teachers: teacherKey.split("\n"), voting }, controller.signal).then(
        ({ estimateTrainingTime }) => setEstimate({ seconds: estimateTrainingTime, error: null }),
        (error: unknown) => {
          if (!isAbort(error)) setEstimate({ seconds: null, error: asApiError(error) });
        },
      );
    }, DEBOUNCE_MS);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [request, numExamples, teacherKey, voting]);

  return estimate;
}
