import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  config,
  eventually,
  DESKTOP,
  graphql,
  horizontalOverflow,
  openBrowser,
  parseCsv,
  PHONE,
  receivedBatches,
  screenshot,
} from "./support.mjs";

const LIVE_TIMEOUT = 90_000;
// Long enough (over a second, an example at a time) that the session is still running when
// its first batch comes, and no more than the live view shows.
const RESUMED_EXAMPLES = 20;
const TRAINED_GENRES = ["FANTASY", "MYSTERY", "SCIENCE_FICTION"];

/**
 * Asserts that `batches` carried events 1 to `lastSeq`, each once and in order, each batch's
 * seqs running without a gap from its `firstSeq` to its `lastSeq`.
 * @param {import("./support.mjs").EventBatch[]} batches
 * @param {number} lastSeq
 */
function assertEveryEventOnce(batches, lastSeq) {
  for (const batch of batches) {
    const seqs = batch.events.map((event) => event.seq);
    const expected = Array.from({ length: batch.lastSeq - batch.firstSeq + 1 }, (_, i) => batch.firstSeq + i);
    assert.deepEqual(seqs, expected, "a batch holds its events from firstSeq to lastSeq");
  }
  const seqs = batches.flatMap((batch) => batch.events.map((event) => event.seq));
  assert.deepEqual(
    seqs,
    Array.from({ length: lastSeq }, (_, i) => i + 1),
    "every event once, in order",
  );
}

/** @typedef {{ totalSessions: number, totalExamplesGenerated: number, totalStoriesSaved: number, averageQuality: number | null, totalTrainingTimeSeconds: number, fineTuningSessionsCount: number, promptTokens: number, completionTokens: number, costUsd: number | null }} Stats */

describe("the Chorus dashboard", () => {
  /** @type {Awaited<ReturnType<typeof openBrowser>>} */
  let browser;
  /** @type {import("playwright-core").Page} */
  let page;
  /** @type {import("./support.mjs").EventBatch[]} */
  let batches;
  let trainedSessionId = "";
  let trainedLastSeq = 0;

  before(async () => {
    browser = await openBrowser();
    page = browser.page;
    batches = receivedBatches(page);
  });

  after(async () => {
    await browser?.close();
  });

  test("asks for a token and refuses a wrong one", async () => {
    await page.goto("/");
    await page.getByTestId("token-input").fill("chorus_not-a-real-token");
    await page.getByTestId("sign-in-submit").click();
    await page.getByTestId("sign-in-error").waitFor();
    assert.match(await page.getByTestId("sign-in-error").innerText(), /not accepted/);
    // The server quotes commands in backticks; they show as code.
    assert.doesNotMatch(await page.getByTestId("sign-in-error").innerText(), /`/);
    assert.equal(
      await page.getByTestId("sign-in-error").locator("code").first().innerText(),
      "chorus tokens create NAME",
    );
    await screenshot(page, "sign-in");
  });

  test("signs in with a valid token", async () => {
    await page.getByTestId("token-input").fill(config.token);
    await page.getByTestId("sign-in-submit").click();
    await page.getByTestId("train-form").waitFor();
    const { viewer } = await graphql(config.token, "{ viewer { name } }");
    assert.equal(await page.getByTestId("viewer-name").innerText(), viewer.name);
  });

  test("trains ten examples and shows every vote and winner live", async () => {
    await page.getByTestId("examples-input").fill("10");
    await page.getByText(/^Estimated time: .* with this ensemble$/).waitFor();
    // Offline teachers cost nothing; the estimate says how many tokens at most.
    assert.match(
      await page.getByTestId("estimate-cost").innerText(),
      /^at most [\d,]+ tokens, costing at most \$0\.00$/,
    );
    assert.equal(await page.getByTestId("save-to-database").getAttribute("aria-checked"), "true");
    assert.match(await page.getByTestId("genre-summary").innerText(), /balanced random/);
    assert.match(await page.getByTestId("offline-teachers-note").innerText(), /demonstration only/);
    for (const genre of TRAINED_GENRES) await page.getByTestId(`genre-${genre}`).click();
    await page.getByTestId("genre-ROMANCE").click();
    await page.getByTestId("genre-ROMANCE").click();
    assert.equal(await page.getByTestId("genre-summary").innerText(), `${TRAINED_GENRES.length} selected`);
    await screenshot(page, "train");

    batches.length = 0;
    await page.getByTestId("start-training").click();
    const live = page.getByTestId("live-session");
    await live.waitFor();
    trainedSessionId = (await live.getAttribute("data-session-id")) ?? "";
    assert.match(trainedSessionId, /^[0-9a-f]{32}$/);

    await page.getByTestId("progress-percent").filter({ hasText: "100%" }).waitFor({ timeout: LIVE_TIMEOUT });
    await page.getByTestId("session-results").waitFor({ timeout: LIVE_TIMEOUT });
    assert.equal(await live.getAttribute("data-status"), "COMPLETED");
    trainedLastSeq = Number(await live.getAttribute("data-last-seq"));
    await eventually(async () => batches.at(-1)?.lastSeq === trainedLastSeq, "the last batch");
    assertEveryEventOnce(batches, trainedLastSeq);
    assert.ok(batches.length < trainedLastSeq, "the events came grouped into batches");
    assert.equal(await page.getByTestId("progress-count").innerText(), "10 of 10 examples");
    const { trainingSession: spent } = await graphql(
      config.token,
      "query ($id: String!) { trainingSession(sessionId: $id) { promptTokens completionTokens costUsd } }",
      { id: trainedSessionId },
    );
    const spend = page.getByTestId("live-spend");
    assert.equal(
      await spend.getAttribute("data-tokens"),
      String(spent.promptTokens + spent.completionTokens),
    );
    assert.equal(await spend.getAttribute("data-cost"), "0");
    assert.equal(await page.getByTestId("result-cost").getAttribute("data-value"), "0");

    const cards = page.getByTestId("example-card");
    assert.equal(await cards.count(), 10);
    assert.equal(await page.locator('[data-testid="example-card"][data-state="running"]').count(), 0);
    assert.ok((await page.getByTestId("vote").count()) >= 10, "the votes of every example are shown");
    const winners = await page.getByTestId("example-winner").count();
    assert.ok(winners >= 1, "winners are shown");
    await page.getByTestId("winner-text").first().waitFor();
    const responses = await page.locator('[data-testid="teacher-response"][data-state="pending"]').count();
    assert.equal(responses, 0, "every teacher's response is shown");
    await page.getByTestId("wins-chart").waitFor();
    await screenshot(page, "train-results");
    await page
      .getByTestId("example-list")
      .evaluate((list) => window.scrollTo(0, list.getBoundingClientRect().top + window.scrollY - 110));
    await screenshot(page, "train-examples");
    await page.evaluate(() => window.scrollTo(0, 0));
  });

  test("replays the finished session in batches after a reload", async () => {
    const votes = await page.getByTestId("vote").count();
    batches.length = 0;
    await page.reload();
    const live = page.getByTestId("live-session");
    await page.getByTestId("session-results").waitFor({ timeout: LIVE_TIMEOUT });
    assert.equal(await live.getAttribute("data-session-id"), trainedSessionId);
    assert.equal(await live.getAttribute("data-status"), "COMPLETED");
    assert.equal(await live.getAttribute("data-last-seq"), String(trainedLastSeq));
    await eventually(async () => batches.at(-1)?.lastSeq === trainedLastSeq, "the last batch");
    assertEveryEventOnce(batches, trainedLastSeq);
    assert.ok(batches.length < trainedLastSeq, "the replay came grouped into batches");
    assert.equal(await page.getByTestId("example-card").count(), 10);
    assert.equal(await page.getByTestId("vote").count(), votes);
    assert.equal(await page.getByTestId("progress-count").innerText(), "10 of 10 examples");
  });

  test("lists the new session first in the history, with its model breakdown", async () => {
    await page.getByTestId("nav-history").click();
    const first = page.getByTestId("history-row").first();
    await first.waitFor();
    assert.equal(await first.getAttribute("data-session-id"), trainedSessionId);
    assert.equal(await first.getByTestId("row-cost").innerText(), "$0.00");
    await first.getByTestId("expand").click();
    const breakdown = page.getByTestId("model-breakdown").first();
    await breakdown.waitFor();
    assert.ok((await breakdown.getByTestId("model-row").count()) >= 1);
    assert.equal(await page.getByTestId("details-session-id").innerText(), trainedSessionId);
    assert.equal(await page.getByTestId("details-genres").innerText(), "Fantasy, Mystery, Science Fiction");
    await page.getByTestId("session-example").first().waitFor();
    assert.ok((await page.getByTestId("example-vote").count()) >= 1, "the examples show their votes");
    await screenshot(page, "history");
  });

  test("shows statistics cards equal to trainingStats", async () => {
    /** @type {{ trainingStats: Stats }} */
    const { trainingStats: stats } = await graphql(
      config.token,
      `
        {
          trainingStats {
            totalSessions
            totalExamplesGenerated
            totalStoriesSaved
            averageQuality
            totalTrainingTimeSeconds
            fineTuningSessionsCount
            promptTokens
            completionTokens
            costUsd
          }
        }
      `,
    );
    /** @param {string} testId */
    const value = async (testId) => page.getByTestId(testId).getAttribute("data-value");
    assert.equal(await value("stat-total-sessions"), String(stats.totalSessions));
    assert.equal(await value("stat-fine-tuning-sessions"), String(stats.fineTuningSessionsCount));
    assert.equal(await value("stat-total-examples"), String(stats.totalExamplesGenerated));
    assert.equal(await value("stat-stories-saved"), String(stats.totalStoriesSaved));
    assert.equal(await value("stat-average-quality"), String(stats.averageQuality ?? ""));
    assert.equal(await value("stat-training-time"), String(stats.totalTrainingTimeSeconds));
    assert.equal(await value("stat-tokens"), String(stats.promptTokens + stats.completionTokens));
    assert.equal(await value("stat-cost"), String(stats.costUsd ?? ""));
    const averageCard = await page.getByTestId("stat-average-quality").innerText();
    assert.ok(averageCard.includes((stats.averageQuality ?? 0).toFixed(1)), averageCard);
  });

  test("narrows the table with a filter and exports the filtered rows as CSV", async () => {
    const query = `query ($genre: Genre) {
      all: trainingHistory(first: 100) { totalCount }
      filtered: trainingHistory(first: 100, filter: { genre: $genre }) { totalCount edges { node { sessionId } } }
    }`;
    const { all, filtered } = await graphql(config.token, query, { genre: config.filterGenre });
    assert.ok(
      filtered.totalCount > 0 && filtered.totalCount < all.totalCount,
      "the filter genre must narrow the history",
    );
    const expected = filtered.edges.map(
      (/** @type {{ node: { sessionId: string } }} */ edge) => edge.node.sessionId,
    );

    await page.getByTestId("filter-genre").selectOption(config.filterGenre);
    await page.locator(`[data-testid="history-count"][data-total="${filtered.totalCount}"]`).waitFor();
    const shown = await page
      .getByTestId("history-row")
      .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-session-id")));
    assert.deepEqual(shown, expected);

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("export-csv").click(),
    ]);
    assert.match(download.suggestedFilename(), /^chorus-history-\d{4}-\d{2}-\d{2}\.csv$/);
    const path = join(config.artifacts, download.suggestedFilename());
    await download.saveAs(path);
    const [header, ...rows] = parseCsv(await readFile(path, "utf8"));
    assert.ok(header, "the CSV has a header");
    const column = header.indexOf("sessionId");
    assert.equal(column, 0);
    assert.deepEqual(
      rows.map((row) => row[column]),
      expected,
    );
    assert.ok(
      rows.every((row) => row.length === header.length),
      "every row has every column",
    );
    await page.getByTestId("clear-filters").click();
    await page.locator(`[data-testid="history-count"][data-total="${all.totalCount}"]`).waitFor();
  });

  test("compares two sessions side by side", async () => {
    const rows = page.getByTestId("history-row");
    const ids = [
      await rows.nth(0).getAttribute("data-session-id"),
      await rows.nth(1).getAttribute("data-session-id"),
    ];
    await rows.nth(0).getByTestId("pick").check();
    await rows.nth(1).getByTestId("pick").check();
    await page.getByTestId("compare-picked").click();
    await page.getByTestId("comparison").waitFor();
    assert.equal(await page.getByTestId("compare-a-id").innerText(), ids[0]);
    assert.equal(await page.getByTestId("compare-b-id").innerText(), ids[1]);
    assert.ok((await page.getByTestId("compare-model-row").count()) >= 1);
    await screenshot(page, "compare");
  });

  test("charts the quality trend and the model leaderboard", async () => {
    await page.getByTestId("nav-trends").click();
    await page.getByTestId("quality-chart").waitFor();
    await page.getByTestId("leaderboard-chart").waitFor();
    await page.getByTestId("spend-chart").waitFor();
    assert.match(
      await page.getByTestId("spend-summary").innerText(),
      /^[\d,]+ tokens and \$0\.00 over the last 30 days\.$/,
    );
    const { modelLeaderboard } = await graphql(config.token, "{ modelLeaderboard { model } }");
    assert.equal(await page.getByTestId("leaderboard").locator("tbody tr").count(), modelLeaderboard.length);
    await screenshot(page, "trends");
  });

  test("reads the saved stories", async () => {
    await page.getByTestId("nav-stories").click();
    const { stories } = await graphql(
      config.token,
      "{ stories(first: 1) { totalCount edges { node { title } } } }",
    );
    if (stories.totalCount === 0) {
      await page.getByTestId("empty").waitFor();
    } else {
      await page.getByTestId("story-reader").waitFor();
      assert.equal(
        await page.getByTestId("story-reader").locator("h2").innerText(),
        stories.edges[0].node.title,
      );
      assert.match(
        await page.getByTestId("stories-count").innerText(),
        new RegExp(`^${stories.totalCount} saved`),
      );
    }
    await screenshot(page, "stories");
  });

  test("shows the fine-tuning countdown and downloads a job's dataset with the token", async () => {
    const { trainingStats, fineTuneJobs } = await eventually(async () => {
      const data = await graphql(
        config.token,
        "{ trainingStats { untilNextFineTuning } fineTuneJobs { id datasetUrl } }",
      );
      return data.fineTuneJobs[0]?.datasetUrl ? data : null;
    }, "a fine-tuning job with a dataset");
    await page.getByTestId("nav-fine-tuning").click();
    await page.getByTestId("fine-tuning-progress").waitFor();
    assert.equal(
      await page.getByTestId("until-next").getAttribute("data-value"),
      String(trainingStats.untilNextFineTuning),
    );
    assert.equal(await page.getByTestId("fine-tune-job").count(), fineTuneJobs.length);
    const job = page.locator(`[data-testid="fine-tune-job"][data-job-id="${fineTuneJobs[0].id}"]`);
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      job.getByTestId("download-dataset").click(),
    ]);
    const path = join(config.artifacts, download.suggestedFilename());
    await download.saveAs(path);
    const lines = (await readFile(path, "utf8")).trim().split("\n");
    assert.ok(lines.length >= 1);
    for (const line of lines) assert.ok(Array.isArray(JSON.parse(line).messages), "chat-format JSONL");
    await screenshot(page, "fine-tuning");
  });

  test("resumes the live stream after the socket drops, losing and repeating nothing", async () => {
    await page.getByTestId("nav-train").click();
    await page.getByTestId("new-session").click();
    /** @type {{ query: string, variables: { afterSeq: number | null } }[]} */
    const subscriptions = [];
    let lastSeqBeforeDrop = 0;
    let dropped = false;
    await page.routeWebSocket(/\/graphql$/, (socket) => {
      const server = socket.connectToServer();
      socket.onMessage((message) => {
        const parsed = JSON.parse(String(message));
        if (parsed.type === "subscribe") subscriptions.push(parsed.payload);
        server.send(message);
      });
      server.onMessage((message) => {
        const parsed = JSON.parse(String(message));
        socket.send(message);
        // The socket drops right after the first batch.
        if (!dropped && parsed.type === "next") {
          lastSeqBeforeDrop = parsed.payload.data.trainingProgressBatches.lastSeq;
          dropped = true;
          void socket.close({ code: 1001, reason: "dropped by the test" });
          void server.close();
        }
      });
    });

    await page.getByTestId("examples-input").fill(String(RESUMED_EXAMPLES));
    await page.getByTestId("start-training").click();
    const live = page.getByTestId("live-session");
    await page.getByTestId("session-results").waitFor({ timeout: LIVE_TIMEOUT });
    const sessionId = await live.getAttribute("data-session-id");

    assert.ok(dropped, "the socket was dropped");
    const lastSeq = Number(await live.getAttribute("data-last-seq"));
    assert.ok(lastSeqBeforeDrop < lastSeq, "the socket dropped mid-stream");
    assert.ok(
      subscriptions.every(({ query }) => query.includes("trainingProgressBatches")),
      "the dashboard follows the session in batches",
    );
    assert.deepEqual(
      subscriptions.map(({ variables }) => variables.afterSeq),
      [null, lastSeqBeforeDrop],
      "the stream resumed after the last batch seen",
    );
    const { trainingSession } = await graphql(
      config.token,
      "query ($id: String!) { trainingSession(sessionId: $id) { examples(first: 100) { edges { node { votes { voter } } } } } }",
      { id: sessionId },
    );
    const votes = trainingSession.examples.edges.reduce(
      (/** @type {number} */ sum, /** @type {{ node: { votes: unknown[] } }} */ edge) =>
        sum + edge.node.votes.length,
      0,
    );
    assert.equal(await page.getByTestId("example-card").count(), RESUMED_EXAMPLES);
    assert.equal(await page.getByTestId("vote").count(), votes);
    assert.equal(
      await page.getByTestId("progress-count").innerText(),
      `${RESUMED_EXAMPLES} of ${RESUMED_EXAMPLES} examples`,
    );
  });

  test("fits a phone screen", async () => {
    await page.setViewportSize(PHONE);
    for (const screen of ["history", "train", "trends", "compare", "stories", "fine-tuning"]) {
      await page.getByTestId(`nav-${screen}`).click();
      await page.getByTestId(`screen-${screen}`).waitFor();
      await page.waitForLoadState("networkidle");
      assert.ok((await horizontalOverflow(page)) <= 0, `the ${screen} screen scrolls sideways at 390 px`);
    }
    await page.getByTestId("nav-history").click();
    await page.getByTestId("history-row").first().waitFor();
    await screenshot(page, "history-phone");
    await page.getByTestId("history-table").scrollIntoViewIfNeeded();
    await screenshot(page, "history-phone-table");
    await page.setViewportSize(DESKTOP);
  });

  test("shows another user none of the first user's sessions", async () => {
    await page.getByTestId("sign-out").click();
    await page.getByTestId("token-input").fill(config.otherToken);
    await page.getByTestId("sign-in-submit").click();
    const { viewer } = await graphql(config.otherToken, "{ viewer { name } }");
    await page.getByTestId("viewer-name").filter({ hasText: viewer.name }).waitFor();
    await page.goto(`/#/history?session=${trainedSessionId}`);
    await page.getByTestId("stats-cards").waitFor();
    assert.equal(await page.getByTestId("stat-total-sessions").getAttribute("data-value"), "0");
    await page.getByTestId("session-missing").waitFor();
    await page.getByTestId("empty").waitFor();
    assert.equal(await page.getByTestId("history-row").count(), 0);
    await page.goto(`/#/compare?a=${trainedSessionId}&b=${trainedSessionId}`);
    await page.getByTestId("empty").waitFor();
  });

  test("returns to token entry when the server stops accepting the token", async () => {
    await page.evaluate(() => localStorage.setItem("chorus.token", "chorus_revoked-or-unknown"));
    await page.reload();
    await page.getByTestId("sign-in-notice").waitFor();
    assert.match(await page.getByTestId("sign-in-notice").innerText(), /not accepted/);
  });

  test("logs no errors in the browser", () => {
    assert.deepEqual(browser.problems, []);
  });
});
