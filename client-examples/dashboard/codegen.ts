/**
 * Types the dashboard's GraphQL documents from the schema the server exports. `graphql-codegen`
 * validates every `graphql(...)` document under src/ against schema/schema.graphql (a document
 * that does not validate fails the run) and writes src/api/generated/: the `graphql()` function,
 * each document's result and variables types, and the schema's enums as const objects.
 */
import type { CodegenConfig } from "@graphql-codegen/cli";

// `sort` is read by the schema loader, which CodegenConfig does not describe: without it the
// enums come out in alphabetical order, and the pickers would not list them as the schema does.
const config: CodegenConfig & { sort: boolean } = {
  sort: false,
  schema: "../../schema/schema.graphql",
  documents: ["src/**/*.{ts,tsx}", "!src/api/generated/**"],
  generates: {
    "src/api/generated/": {
      preset: "client",
      // Components take the records they show whole; no fragment masking to unwrap.
      presetConfig: { fragmentMasking: false },
      config: {
        // Documents stay strings: `fetch` and graphql-ws send them as they are, with no parser.
        documentMode: "string",
        enumType: "const",
        useTypeImports: true,
        strictScalars: true,
        scalars: { DateTime: "string", JSON: "unknown" },
      },
    },
  },
};

export default config;
