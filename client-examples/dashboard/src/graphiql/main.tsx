/**
 * GraphiQL, built with the dashboard so that `/graphql` works in a browser with no internet: the
 * server serves this page (dist/graphiql.html) in place of Strawberry's, which loads GraphiQL from
 * a CDN. Queries go over HTTP and subscriptions over the same `/graphql` websocket
 * (graphql-transport-ws); the headers pane's `Authorization` reaches both, the websocket's in its
 * `connection_init` payload.
 */
import "graphiql/setup-workers/vite";
import "graphiql/style.css";
import "@graphiql/plugin-explorer/style.css";
import { explorerPlugin } from "@graphiql/plugin-explorer";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { sharedQuery, shareQuery } from "./share";

const DEFAULT_QUERY = `# Chorus's GraphQL API. Put your token in the headers
# pane below, for queries and subscriptions alike:
#
#   {"Authorization": "Bearer <token>"}
#
# \`chorus users create NAME\` prints one.

{
  viewer { userId name }
  trainingHistory(first: 10) {
    totalCount
    edges { node { sessionId status averageQuality } }
  }
}
`;

const endpoint = new URL("/graphql", window.location.href);
const subscriptions = new URL(endpoint);
subscriptions.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

// With `subscriptionUrl` the toolkit opens a graphql-ws client for each subscription, its
// connection parameters being the headers pane's headers.
const fetcher = createGraphiQLFetcher({ url: endpoint.href, subscriptionUrl: subscriptions.href });
const plugins = [explorerPlugin()];
const shared = sharedQuery(window.location.search);

const root = document.getElementById("graphiql");
if (!root) throw new Error("graphiql.html has no #graphiql element");
createRoot(root).render(
  <StrictMode>
    <GraphiQL
      fetcher={fetcher}
      plugins={plugins}
      defaultQuery={DEFAULT_QUERY}
      initialQuery={shared.query}
      initialVariables={shared.variables}
      onEditQuery={(query) => shareQuery({ query })}
      onEditVariables={(variables) => shareQuery({ variables })}
      defaultEditorToolsVisibility="headers"
      shouldPersistHeaders
    />
  </StrictMode>,
);
