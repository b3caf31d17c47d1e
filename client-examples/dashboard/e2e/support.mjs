import { mkdtemp, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

/** @param {string} name */
function required(name) {
  const value = process.env[name];
  if (!value)
    throw new Error(`Set ${name}: the scenario needs a running Chorus server and two users' tokens.`);
  return value;
}

export const config = {
  baseUrl: required("CHORUS_URL").replace(/\/$/, ""),
  token: required("CHORUS_TOKEN"),
  // Only the dashboard's scenario has a second user.
  get otherToken() {
    return required("CHORUS_OTHER_TOKEN");
  },
  filterGenre: process.env.CHORUS_FILTER_GENRE ?? "HORROR",
  artifacts: process.env.CHORUS_ARTIFACTS ?? join(process.cwd(), "test-artifacts"),
  chromium: process.env.CHROMIUM ?? "/usr/bin/chromium",
};

export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--no-first-run",
];

/** A headless Chromium with a fresh profile; `close` removes the profile too. */
export async function openBrowser() {
  const profile = await mkdtemp(join(tmpdir(), "chorus-e2e-"));
  await mkdir(config.artifacts, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: config.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: DESKTOP,
    reducedMotion: "reduce",
    acceptDownloads: true,
    baseURL: config.baseUrl,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = /** @type {string[]} */ ([]);
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning")
      problems.push(`console ${message.type()}: ${message.text()}`);
  });
  return {
    context,
    page,
    problems,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * @template T
 * @param {string} token
 * @param {string} query
 * @param {Record<string, unknown>} [variables]
 * @returns {Promise<T>}
 */
export async function graphql(token, query, variables = {}) {
  const response = await fetch(`${config.baseUrl}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/**
 * @param {import("playwright-core").Page} page
 * @param {string} name
 */
export async function screenshot(page, name) {
  await page.mouse.move(0, 0);
  await page.evaluate(() => document.fonts.ready);
  await page.screenshot({ path: join(config.artifacts, `${name}.png`) });
}

/** @param {import("playwright-core").Page} page */
export async function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

/** @typedef {{ firstSeq: number, lastSeq: number, events: { seq: number }[] }} EventBatch */

/**
 * Every `trainingProgressBatches` message the page receives from now on, in order.
 * @param {import("playwright-core").Page} page
 */
export function receivedBatches(page) {
  /** @type {EventBatch[]} */
  const batches = [];
  page.on("websocket", (socket) => {
    socket.on("framereceived", ({ payload }) => {
      const message = JSON.parse(String(payload));
      const batch = message.type === "next" ? message.payload?.data?.trainingProgressBatches : null;
      if (batch) batches.push(batch);
    });
  });
  return batches;
}

/**
 * The first truthy result of `attempt`, tried every 200 ms for up to 20 s.
 * @template T
 * @param {() => Promise<T | null>} attempt
 * @param {string} what
 * @returns {Promise<T>}
 */
export async function eventually(attempt, what) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const result = await attempt();
    if (result) return result;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** @param {string} text */
export function parseCsv(text) {
  /** @type {string[][]} */
  const rows = [];
  /** @type {string[]} */
  let row = [];
  let cell = "";
  let quoted = false;
  for (let position = 0; position < text.length; position += 1) {
    const char = text[position];
    if (quoted) {
      if (char === '"' && text[position + 1] === '"') {
        cell += '"';
        position += 1;
      } else if (char === '"') {
        quoted = false;
      } else {
        cell += char;
      }
    } else if (char === '"') {
      quoted = true;
    } else if (char === ",") {
      row.push(cell);
      cell = "";
    } else if (char === "\n") {
      row.push(cell.replace(/\r$/, ""));
      rows.push(row);
      row = [];
      cell = "";
    } else {
      cell += char;
    }
  }
  return rows;
}
