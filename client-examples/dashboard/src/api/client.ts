import type { TypedDocumentString } from "./generated/graphql";

export type ApiErrorKind = "network" | "server" | "graphql" | "unauthenticated";

export class ApiError extends Error {
  override readonly name = "ApiError";

  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

interface GraphQLErrorEntry {
  message: string;
  extensions?: { code?: string };
}

interface GraphQLBody<TData> {
  data?: TData | null;
  errors?: GraphQLErrorEntry[];
}

/** A document from `documents.ts`: its text, typed with its result and its variables. */
export type Document<TResult, TVariables> = TypedDocumentString<TResult, TVariables>;

export const UNREACHABLE = "Cannot reach the Chorus server. Check that it is running, then retry.";

export function authorization(token: string): string {
  return `Bearer ${token}`;
}

async function readBody<TData>(response: Response): Promise<GraphQLBody<TData> | null> {
  try {
    return (await response.json()) as GraphQLBody<TData>;
  } catch {
    return null;
  }
}

export function errorFromGraphQL(errors: readonly GraphQLErrorEntry[]): ApiError {
  const denied = errors.find((error) => error.extensions?.code === "UNAUTHENTICATED");
  if (denied) return new ApiError("unauthenticated", denied.message, "UNAUTHENTICATED");
  const message = errors.map((error) => error.message).join("\n");
  return new ApiError("graphql", message, errors[0]?.extensions?.code ?? null);
}

export async function graphqlRequest<TResult, TVariables>(
  token: string,
  document: Document<TResult, TVariables>,
  variables: TVariables,
  signal?: AbortSignal,
): Promise<TResult> {
  let response: Response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        Authorization: authorization(token),
      },
      body: JSON.stringify({ query: document.toString(), variables }),
      signal: signal ?? null,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError("network", UNREACHABLE);
  }
  const body = await readBody<TResult>(response);
  if (body?.errors?.length) throw errorFromGraphQL(body.errors);
  if (!response.ok || body?.data == null) {
    throw new ApiError("server", `The server answered ${response.status} ${response.statusText}.`);
  }
  return body.data;
}

export interface DownloadedFile {
  file: Blob;
  filename: string;
}

function attachmentName(response: Response, url: string): string {
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const match = /filename\*?=(?:utf-8'')?"?([^";]+)"?/i.exec(disposition);
  return match?.[1] ? decodeURIComponent(match[1]) : (url.split("/").pop() ?? "download");
}

export async function fetchFile(token: string, url: string): Promise<DownloadedFile> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { Authorization: authorization(token) } });
  } catch {
    throw new ApiError("network", UNREACHABLE);
  }
  if (response.status === 401) {
    throw new ApiError("unauthenticated", "The server no longer accepts this token.");
  }
  if (!response.ok) {
    const detail = (await response.json().catch(() => null)) as { message?: string } | null;
    const reason = detail?.message ?? response.statusText;
    throw new ApiError("server", `Download failed (${response.status}): ${reason}`);
  }
  return { file: await response.blob(), filename: attachmentName(response, url) };
}

export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}
