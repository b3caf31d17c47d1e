import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { config, eventually, graphql, openBrowser, screenshot } from "./support.mjs";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * The text of the Monaco editor inside `section`, which Monaco draws line by line with
 * non-breaking spaces.
 * @param {import("playwright-core").Page} page
 * @param {string} section
 */
async function editorText(page, section) {
  const lines = page.locator(`${section} .monaco-editor .view-lines`).first();
  return (await lines.innerText()).replace(/\u00a0/g, " ");
}

/**
 * Replaces what the Monaco editor in `section` holds with `text`, inserted whole: typing it key by
 * key would let the editor close brackets and quotes on its own.
 * @param {import("playwright-core").Page} page
 * @param {string} section
 * @param {string} text
 */
async function fill(page, section, text) {
  await page.locator(`${section} .monaco-editor .view-lines`).first().click();
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(text);
}

/**
 * Replaces the operation with `query`. GraphiQL reads an edited operation (is it a subscription?)
 * a moment later, then puts it in the page's address: run before that and it runs the old one.
 * @param {import("playwright-core").Page} page
 * @param {string} query
 */
async function setQuery(page, query) {
  await fill(page, QUERY_EDITOR, query);
  await page.waitForURL((url) => url.searchParams.get("q") === query);
}

const QUERY_EDITOR = "section.graphiql-query-editor";
const HEADERS_EDITOR = 'section.graphiql-editor-tool[aria-label="Headers"] .graphiql-editor:not(.hidden)';
const RESULT = "section.result-window";

describe("GraphiQL at /graphql, with no network", () => {
  /** @type {Awaited<ReturnType<typeof openBrowser>>} */
  let browser;
  /** @type {import("playwright-core").Page} */
  let page;
  /** @type {string[]} */
  const blocked = [];
  /** @type {string[]} */
  const sentOnWebsockets = [];
  /** @type {string[]} */
  const receivedOnWebsockets = [];

  before(async () => {
    browser = await openBrowser();
    page = browser.page;
    // Everything GraphiQL needs comes from this server: any other request fails, and is counted.
    await browser.context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (LOOPBACK.has(url.hostname)) return route.continue();
      blocked.push(url.href);
      return route.abort("internetdisconnected");
    });
    page.on("websocket", (socket) => {
      socket.on("framesent", (frame) => sentOnWebsockets.push(String(frame.payload)));
      socket.on("framereceived", (frame) => receivedOnWebsockets.push(String(frame.payload)));
    });
  });

  after(async () => {
    await browser?.close();
  });

  test("loads from the server alone", async () => {
    await page.goto("/graphql");
    await page.locator(`${QUERY_EDITOR} .monaco-editor`).waitFor();
    await page.locator(`${HEADERS_EDITOR} .monaco-editor`).waitFor();
    assert.match(await editorText(page, QUERY_EDITOR), /Authorization/);
    assert.deepEqual(blocked, []);
  });

  test("runs a query with the token from the headers pane", async () => {
    await fill(page, HEADERS_EDITOR, JSON.stringify({ Authorization: `Bearer ${config.token}` }));
    await setQuery(page, "{ viewer { name userId } }");
    await page.getByRole("button", { name: /Execute query/ }).click();
    const { viewer } = await graphql(config.token, "{ viewer { name userId } }");
    const result = await eventually(async () => {
      const text = await editorText(page, RESULT);
      return text.includes(`"userId": ${viewer.userId}`) ? text : null;
    }, "the query's result");
    assert.match(result, new RegExp(`"name": "${viewer.name}"`));
    await screenshot(page, "graphiql-query");
  });

  test("follows a training session over the websocket, authenticated by connection_init", async () => {
    const { startTraining } = await graphql(
      config.token,
      "mutation { startTraining(input: { numExamples: 3, genres: [FANTASY] }) { sessionId } }",
    );
    // One line: Monaco indents the lines of a multi-line insert as if they were typed.
    const subscription =
      `subscription { trainingProgress(sessionId: "${startTraining.sessionId}") { __typename seq` +
      " ... on ExampleScored { index winner finalQuality } ... on SessionFinished { status } } }";
    await setQuery(page, subscription);
    await page.getByRole("button", { name: /Execute query/ }).click();
    // The stream ends with SessionFinished, which GraphiQL shows last.
    const finished = await eventually(async () => {
      const text = await editorText(page, RESULT);
      return text.includes('"SessionFinished"') ? text : null;
    }, "the session's last event");
    assert.match(finished, /"status": "COMPLETED"/);
    const init = sentOnWebsockets.map((frame) => JSON.parse(frame)).find((m) => m.type === "connection_init");
    assert.equal(init?.payload?.Authorization, `Bearer ${config.token}`);
    assert.ok(sentOnWebsockets.some((frame) => frame.includes(startTraining.sessionId)));
    // Every event came, once and in order, before the last one GraphiQL shows.
    const seqs = receivedOnWebsockets
      .map((frame) => JSON.parse(frame))
      .filter((message) => message.type === "next")
      .map((message) => message.payload.data.trainingProgress.seq);
    const last = Number(/"seq": (\d+)/.exec(finished)?.[1]);
    assert.deepEqual(
      seqs,
      Array.from({ length: last }, (_, index) => index + 1),
    );
    await screenshot(page, "graphiql-subscription");
    assert.deepEqual(blocked, []);
    assert.deepEqual(browser.problems, []);
  });
});
