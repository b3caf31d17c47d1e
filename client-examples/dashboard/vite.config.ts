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
});
