/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const chorus = "http://127.0.0.1:8000";

export default defineConfig({
  base: "/",
  plugins: [react()],
  server: {
    proxy: {
      "/graphql": { target: chorus, ws: true },
      "/api": { target: chorus },
    },
  },
  test: {
    // Pure logic only, in Node: the browser scenario in e2e/ covers the screens.
    include: ["src/**/*.test.{ts,tsx}"],
    environment: "node",
    // The history filters work in local days: test them in a zone with daylight saving time,
    // the same one on every machine.
    env: { TZ: "America/New_York" },
  },
});
