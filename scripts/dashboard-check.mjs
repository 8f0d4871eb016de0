// Checks the dashboard in real headless Chromium (Debian's `chromium`, driven by
// playwright-core over the DevTools protocol), at desktop size in light mode and at
// phone size in dark mode:
//   - the page asks for the viewer token, takes it, and keeps it for a reload (session
//     storage) without asking again;
//   - no console error, no page error, no failed request, no answer of 400 or more;
//   - the five parts and the gateway each show a status;
//   - the charts are drawn (a canvas each, with pixels painted);
//   - the routing decisions and the grants in force are listed (the caller makes one);
//   - a second snapshot arrives without a reload (live updates);
//   - nothing is wider than the screen;
//   - a screenshot of each is saved.
//
//   node scripts/dashboard-check.mjs BASE_URL VIEWER_TOKEN OUT_DIR [LABEL]
//
// playwright-core is resolved from $AGENCY_TOOLS/npm (scripts/tools.sh installs it);
// the last line is `dashboard: N passed, M failed`.
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import path from "node:path";

const [base, token, outDir, label = "local"] = process.argv.slice(2);
if (!base || !token || !outDir) {
  console.error("usage: node dashboard-check.mjs BASE_URL VIEWER_TOKEN OUT_DIR [LABEL]");
  process.exit(2);
}
const tools = process.env.AGENCY_TOOLS || path.join(process.env.HOME, ".cache", "agency-tools");
const require = createRequire(path.join(tools, "npm", "package.json"));
const { chromium } = require("playwright-core");

const PARTS = ["webhooks", "router", "skill-graph", "assistant", "monitoring", "gateway"];
const results = [];
function check(name, ok, detail) {
  results.push({ name, ok, detail });
  console.log(`dashboard: ${ok ? "ok  " : "FAIL"}  [${label}] ${name}${ok || !detail ? "" : ": " + detail}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

async function run(name, contextOptions, shot) {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // The stream is aborted on purpose when the page reloads or closes.
    const aborted = (r.failure()?.errorText || "").includes("ERR_ABORTED");
    if (!(aborted && r.url().includes("/api/dashboard/stream"))) {
      problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
    }
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`answer ${r.status()}: ${r.url()}`);
  });

  try {
    await page.goto(`${base}/dashboard`, { waitUntil: "load" });
    const asked = await page.locator("#login").isVisible();
    check(`${name}: the page asks for a viewer token`, asked);
    await page.fill("#token", token);
    await page.click("#login button[type=submit]");
    await page.waitForFunction(
      (parts) => parts.every((p) => {
        const li = document.querySelector(`#parts li[data-part="${p}"]`);
        return li && li.dataset.status && li.querySelector(".status").textContent.length > 0;
      }),
      PARTS,
      { timeout: 15000 },
    );
    const statuses = await page.$$eval("#parts li", (lis) => lis.map((li) => [li.dataset.part, li.dataset.status]));
    check(
      `${name}: the five parts and the gateway show their status`,
      PARTS.every((p) => statuses.some(([q, s]) => q === p && ["up", "down", "unknown"].includes(s))),
      JSON.stringify(statuses),
    );
    const upParts = statuses.filter(([, s]) => s === "up").map(([p]) => p);
    check(`${name}: the probed parts are up`, ["router", "skill-graph", "assistant", "webhooks", "monitoring"].every((p) => upParts.includes(p)), JSON.stringify(statuses));

    const drawn = await page.waitForFunction(
      () => {
        const canvases = [...document.querySelectorAll(".chart canvas")];
        if (canvases.length < 3) return false;
        return canvases.every((c) => {
          if (!c.width || !c.height) return false;
          const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
          return false;
        });
      },
      null,
      { timeout: 15000 },
    ).then(() => true, () => false);
    check(`${name}: three charts are drawn`, drawn);

    const rows = await page.$$eval("#decisions tr", (trs) => trs.length);
    check(`${name}: recent routing decisions are listed`, rows > 0 && !(await page.locator("#decisions td.empty").count()), `${rows} rows`);

    const grants = await page.$$eval("#grants tr", (trs) => trs.length);
    check(`${name}: the grants in force are listed`, grants > 0 && !(await page.locator("#grants td.empty").count()), `${grants} rows`);

    const first = Number(await page.getAttribute("body", "data-snapshots"));
    const live = await page.waitForFunction(
      (n) => Number(document.body.dataset.snapshots || 0) > n,
      first,
      { timeout: 15000 },
    ).then(() => true, () => false);
    check(`${name}: a new snapshot arrives without a reload`, live);

    const width = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    check(`${name}: nothing is wider than the screen`, width[0] <= width[1], `${width[0]} > ${width[1]}`);

    mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, shot);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`dashboard: screenshot ${file}`);

    await page.reload({ waitUntil: "load" });
    await page.waitForSelector("#parts li", { timeout: 15000 });
    check(`${name}: the token is kept for the session (no second prompt)`, !(await page.locator("#login").isVisible()));
  } catch (e) {
    check(`${name}: the page works`, false, e.message);
  }
  await context.close();
  check(`${name}: no console errors, failed requests or error answers`, problems.length === 0, problems.join("; "));
}

await run("desktop", { viewport: { width: 1280, height: 900 }, colorScheme: "light" }, `dashboard-${label}-desktop.png`);
await run(
  "phone",
  { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: "dark" },
  `dashboard-${label}-phone.png`,
);
await browser.close();

const failed = results.filter((r) => !r.ok).length;
console.log(`dashboard: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
