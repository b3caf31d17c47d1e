import { useEffect, useState } from "react";
import { type ApiError, isAbort } from "../../api/client";
import { ESTIMATE } from "../../api/documents";
import type { EstimateQuery, VotingStrategy } from "../../api/generated/graphql";
import { asApiError } from "../../hooks";
import { useSession } from "../../session";

const DEBOUNCE_MS = 250;

export interface Estimate {
  /** Time, tokens and cost at most; null until the server has answered. */
  value: EstimateQuery["trainingEstimate"] | null;
  error: ApiError | null;
}

export function useEstimate(
  numExamples: number,
  teachers: readonly string[],
  voting: VotingStrategy,
): Estimate {
  const { request } = useSession();
  const [estimate, setEstimate] = useState<Estimate>({ value: null, error: null });
  const teacherKey = teachers.join("\n");

  useEffect(() => {
    if (!teacherKey) {
      setEstimate({ value: null, error: null });
      return;
    }
    const controller = new AbortController();
    const timer = window.setTimeout(() => {
      request(ESTIMATE, { numExamples, teachers: teacherKey.split("\n"), voting }, controller.signal).then(
        ({ trainingEstimate }) => setEstimate({ value: trainingEstimate, error: null }),
        (error: unknown) => {
          if (!isAbort(error)) setEstimate({ value: null, error: asApiError(error) });
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
