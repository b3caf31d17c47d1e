/**
 * The query and variables in the page's address (`/graphql?q=...&variables=...`), as Strawberry's
 * GraphiQL page kept them: a link opens GraphiQL with them. Headers stay out of it, tokens with them.
 */
export interface SharedQuery {
  query?: string;
  variables?: string;
}

const PARAMETERS = { query: "q", variables: "variables" } as const;

export function sharedQuery(search: string): SharedQuery {
  const parameters = new URLSearchParams(search);
  return {
    query: parameters.get(PARAMETERS.query) ?? undefined,
    variables: parameters.get(PARAMETERS.variables) ?? undefined,
  };
}

export function shareQuery(change: SharedQuery): void {
  const url = new URL(window.location.href);
  for (const key of ["query", "variables"] as const) {
    const value = change[key];
    if (value === undefined) continue;
    if (value.trim()) url.searchParams.set(PARAMETERS[key], value);
    else url.searchParams.delete(PARAMETERS[key]);
  }
  window.history.replaceState(null, "", url);
}
