/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const chorus = "http://127.0.0.1:8000";

export default defineConfig({
  base: "/",
  plugins: [react()],
  build: {
    rolldownOptions: {
      // Two pages: the dashboard, and GraphiQL, which the server serves at /graphql to browsers.
      input: { dashboard: "index.html", graphiql: "graphiql.html" },
      onwarn(warning, warn) {
        // GraphiQL's packages open modules with React Compiler directives, meaningless in a bundle.
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
    },
    // GraphiQL's editor, Monaco, is one chunk of about 3 MB, loaded only by /graphql.
    chunkSizeWarningLimit: 3000,
  },
  // GraphiQL's editor (Monaco) runs its language services in module workers.
  worker: { format: "es" },
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
