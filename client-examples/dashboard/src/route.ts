import { useSyncExternalStore } from "react";

export const SCREENS = [
  { id: "train", label: "Train" },
  { id: "history", label: "History" },
  { id: "trends", label: "Trends" },
  { id: "compare", label: "Compare" },
  { id: "stories", label: "Stories" },
  { id: "fine-tuning", label: "Fine-tuning" },
] as const;

export type ScreenId = (typeof SCREENS)[number]["id"];

export interface Route {
  screen: ScreenId;
  params: URLSearchParams;
}

function isScreen(value: string): value is ScreenId {
  return SCREENS.some((screen) => screen.id === value);
}

function parse(hash: string): Route {
  const [path = "", query = ""] = hash.replace(/^#\/?/, "").split("?");
  return { screen: isScreen(path) ? path : "train", params: new URLSearchParams(query) };
}

export function href(screen: ScreenId, params: Record<string, string> = {}): string {
  const query = new URLSearchParams(params).toString();
  return `#/${screen}${query ? `?${query}` : ""}`;
}

export function navigate(screen: ScreenId, params: Record<string, string> = {}): void {
  window.location.hash = href(screen, params);
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener("hashchange", onChange);
  return () => window.removeEventListener("hashchange", onChange);
}

export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribe, () => window.location.hash);
  return parse(hash);
}
