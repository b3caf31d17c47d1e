import { useSyncExternalStore } from "react";

const TOKEN = "chorus.token";
const WATCHING = "chorus.watching";
const WATCHING_CHANGED = "chorus:watching";

export function storedToken(): string | null {
  return localStorage.getItem(TOKEN);
}

export function storeToken(token: string): void {
  localStorage.setItem(TOKEN, token);
}

export function forgetSignIn(): void {
  localStorage.removeItem(TOKEN);
  watchSession(null);
}

export function watchSession(sessionId: string | null): void {
  if (sessionId) localStorage.setItem(WATCHING, sessionId);
  else localStorage.removeItem(WATCHING);
  window.dispatchEvent(new Event(WATCHING_CHANGED));
}

function subscribeWatching(onChange: () => void): () => void {
  window.addEventListener(WATCHING_CHANGED, onChange);
  window.addEventListener("storage", onChange);
  return () => {
    window.removeEventListener(WATCHING_CHANGED, onChange);
    window.removeEventListener("storage", onChange);
  };
}

export function useWatchedSession(): string | null {
  return useSyncExternalStore(subscribeWatching, () => localStorage.getItem(WATCHING));
}
