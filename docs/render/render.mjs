// Render every Adaptive Card JSON in a folder to PNG, the way Teams styles it.
//
//   node docs/render/render.mjs [IN_DIR] [OUT_DIR] [--dark NAME,NAME] [--width PX] [--scale N]
//                               [--colors N] [--no-netns]
//
// IN_DIR and OUT_DIR default to docs/cards/. Each NAME.json becomes NAME.png, drawn by the
// official `adaptivecards` renderer with Microsoft's Teams light host config
// (../shared/tools/hostconfig/); the cards named by --dark (default: checkin) are also drawn with
// the Teams dark host config as NAME-dark.png. The card is `--width` px wide (default 560, a
// Teams chat message) and drawn at device scale `--scale` (default 1, what a 100 % screen shows).
// PNGs are reduced to `--colors` colours (default 128; 0 keeps the screenshot as it is) so the
// committed pictures stay small.
//
// Nothing leaves this machine: Chromium (Debian's /usr/bin/chromium, or $CHROMIUM) only opens an
// in-memory page; the browser context is offline and every request is aborted; and when `unshare`
// works the whole run is re-executed inside a new network namespace that has only loopback.

import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const REPO = resolve(HERE, "..", "..");
const HOSTCONFIG = resolve(REPO, "..", "shared", "tools", "hostconfig");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--no-first-run", "--disable-default-apps", "--disable-extensions",
  "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication"];

function parseArgs(argv) {
  const options = { dirs: [], dark: ["checkin"], width: 560, scale: 1, colors: 128, netns: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--dark") options.dark = (argv[++i] || "").split(",").filter(Boolean);
    else if (arg === "--width") options.width = Number(argv[++i]);
    else if (arg === "--scale") options.scale = Number(argv[++i]);
    else if (arg === "--colors") options.colors = Number(argv[++i]);
    else if (arg === "--no-netns") options.netns = false;
    else if (arg === "-h" || arg === "--help") { console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n\n")[0].replace(/^\/\/ ?/gm, "")); process.exit(0); }
    else if (arg.startsWith("-")) { console.error(`render.mjs: unknown option ${arg}`); process.exit(2); }
    else options.dirs.push(arg);
  }
  const cards = resolve(REPO, "docs", "cards");
  options.inDir = resolve(options.dirs[0] || cards);
  options.outDir = resolve(options.dirs[1] || options.dirs[0] || cards);
  if (!(options.width > 100) || !(options.scale > 0) || !(options.colors >= 0 && options.colors <= 256)) {
    console.error("render.mjs: bad --width, --scale or --colors"); process.exit(2);
  }
  return options;
}

// Re-run this script inside a fresh network namespace (only loopback) when the system allows it.
function isolate(options) {
  if (process.env.PLANBOT_RENDER_NETNS || !options.netns) return;
  for (const flags of [["-n"], ["-r", "-n"]]) {
    if (spawnSync("unshare", [...flags, "true"], { stdio: "ignore" }).status !== 0) continue;
    const script = 'ip link set lo up 2>/dev/null; exec "$@"';
    const run = spawnSync("unshare", [...flags, "sh", "-c", script, "sh", process.execPath,
      ...process.argv.slice(1)], { stdio: "inherit", env: { ...process.env, PLANBOT_RENDER_NETNS: "1" } });
    process.exit(run.status ?? 1);
  }
  console.warn("render.mjs: `unshare -n` is not available here; rendering without a network " +
    "namespace (the browser context is still offline and every request is aborted).");
}

function checkNamespace() {
  if (!process.env.PLANBOT_RENDER_NETNS) return "not isolated";
  // /proc/self/net is per namespace (/sys/class/net shows the namespace that mounted sysfs).
  const links = readFileSync("/proc/self/net/dev", "utf8").split("\n").slice(2)
    .map((line) => line.split(":")[0].trim()).filter(Boolean);
  if (links.some((name) => name !== "lo")) {
    console.error(`render.mjs: expected only loopback in the namespace, found ${links.join(", ")}`);
    process.exit(1);
  }
  return "network namespace with only loopback";
}

// Teams' chrome around the card, which the host config does not cover: the chat background and
// message bubble, Fluent buttons and inputs, and a stand-in for Segoe UI (Teams' font) with the
// same widths as Arial when Segoe UI is not installed. Approximations; the card's own text sizes,
// colours and spacing come from the host config.
const THEMES = {
  light: { page: "#f5f5f5", bubble: "#ffffff", border: "#e0e0e0", text: "#242424",
    buttonBg: "#ffffff", buttonBorder: "#d1d1d1", primaryBg: "#5b5fc7", primaryText: "#ffffff",
    inputBg: "#ffffff", inputBorder: "#d1d1d1", inputBottom: "#616161", placeholder: "#707070" },
  dark: { page: "#1f1f1f", bubble: "#292929", border: "#3d3d3d", text: "#ffffff",
    buttonBg: "#292929", buttonBorder: "#666666", primaryBg: "#4f52b2", primaryText: "#ffffff",
    inputBg: "#1f1f1f", inputBorder: "#5c5c5c", inputBottom: "#adadad", placeholder: "#adadad" },
};

function pageHtml(theme, width, libraryJs, libraryCss) {
  const t = THEMES[theme];
  const face = (weight, names) => `@font-face { font-family: "Segoe UI"; font-weight: ${weight};
    src: ${names.map((n) => `local("${n}")`).join(", ")}; }`;
  return `<!doctype html><html><head><meta charset="utf-8"><style>
${face("100 499", ["Segoe UI", "SegoeUI", "Selawik", "Liberation Sans", "Arial"])}
${face("500 900", ["Segoe UI Semibold", "SegoeUI-Semibold", "Selawik Semibold", "Liberation Sans Bold", "Arial Bold"])}
${libraryCss}
html, body { margin: 0; background: ${t.page}; }
#frame { display: inline-block; padding: 12px; background: ${t.page}; }
#card { width: ${width}px; background: ${t.bubble}; border: 1px solid ${t.border};
  border-radius: 6px; overflow: hidden; box-sizing: border-box; }
#card .ac-adaptiveCard { border-radius: 6px; }
#card .ac-pushButton { font-family: "Segoe UI", sans-serif; font-size: 14px; font-weight: 600;
  min-height: 32px; padding: 0 12px; border-radius: 4px; background: ${t.buttonBg};
  color: ${t.text}; border: 1px solid ${t.buttonBorder}; }
#card .ac-pushButton.style-positive { background: ${t.primaryBg}; color: ${t.primaryText};
  border-color: ${t.primaryBg}; }
#card .ac-input:not(.ac-toggleInput):not([type=checkbox]) { font-family: "Segoe UI", sans-serif;
  font-size: 14px; color: ${t.text}; background: ${t.inputBg}; border: 1px solid ${t.inputBorder};
  border-bottom-color: ${t.inputBottom}; border-radius: 4px; padding: 5px 10px; min-height: 32px;
  box-sizing: border-box; }
#card select.ac-input { appearance: auto; }
#card .ac-input::placeholder { color: ${t.placeholder}; }
#card .ac-input.ac-multiline { min-height: 64px; }
#card label, #card .ac-toggleInput { color: ${t.text}; font-family: "Segoe UI", sans-serif; }
</style><script>${libraryJs}</script></head>
<body><div id="frame"><div id="card"></div></div></body></html>`;
}

// Fewer colours, same pixels: a palette PNG (UPNG's quantiser) is a third of the screenshot's size.
function shrink(png, colors) {
  if (!colors) return png;
  const UPNG = require("upng-js");
  const image = UPNG.decode(png.buffer.slice(png.byteOffset, png.byteOffset + png.length));
  return Buffer.from(UPNG.encode(UPNG.toRGBA8(image), image.width, image.height, colors));
}

// Runs in the page: parse and render one card, report what the renderer complained about.
function renderInPage({ card, hostConfig }) {
  const AC = window.AdaptiveCards;
  const adaptiveCard = new AC.AdaptiveCard();
  adaptiveCard.hostConfig = new AC.HostConfig(hostConfig);
  const context = new AC.SerializationContext();
  adaptiveCard.parse(card, context);
  const notes = [];
  for (let i = 0; i < context.eventCount; i++) notes.push(`parse: ${context.getEventAt(i).message}`);
  for (const issue of adaptiveCard.validateProperties().validationEvents) notes.push(`validate: ${issue.message}`);
  const element = adaptiveCard.render();
  const holder = document.getElementById("card");
  holder.replaceChildren(element);
  return notes;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  isolate(options);
  const where = checkNamespace();
  const { chromium } = await import("playwright-core");
  const library = join(HERE, "node_modules", "adaptivecards", "dist");
  if (!existsSync(library)) { console.error("render.mjs: run `npm ci` in docs/render first"); process.exit(2); }
  const libraryJs = readFileSync(join(library, "adaptivecards.min.js"), "utf8").replaceAll("</script", "<\\/script");
  const libraryCss = readFileSync(join(library, "adaptivecards.css"), "utf8");
  const hostConfigs = Object.fromEntries(["light", "dark"].map((theme) => [theme,
    JSON.parse(readFileSync(join(HOSTCONFIG, `microsoft-teams-${theme}.json`), "utf8"))]));
  const files = readdirSync(options.inDir).filter((name) => name.endsWith(".json")).sort();
  if (!files.length) { console.error(`render.mjs: no .json cards in ${options.inDir}`); process.exit(2); }
  mkdirSync(options.outDir, { recursive: true });

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  console.log(`render.mjs: ${browser.version()} (${where}), ${files.length} cards, ${options.width} px`);
  let problems = 0;
  try {
    const context = await browser.newContext({ offline: true, deviceScaleFactor: options.scale,
      viewport: { width: options.width + 40, height: 600 }, javaScriptEnabled: true });
    await context.route("**/*", (route) => route.abort("blockedbyclient"));
    const page = await context.newPage();
    page.on("request", (request) => {
      if (!request.url().startsWith("data:") && request.url() !== "about:blank") {
        console.warn(`  blocked request: ${request.url()}`);
      }
    });
    page.on("pageerror", (error) => { problems++; console.error(`  page error: ${error.message}`); });
    for (const theme of ["light", "dark"]) {
      await page.setContent(pageHtml(theme, options.width, libraryJs, libraryCss), { waitUntil: "load" });
      for (const file of files) {
        const name = file.slice(0, -".json".length);
        if (theme === "dark" && !options.dark.includes(name)) continue;
        const card = JSON.parse(readFileSync(join(options.inDir, file), "utf8"));
        const notes = await page.evaluate(renderInPage, { card, hostConfig: hostConfigs[theme] });
        await page.evaluate(() => document.fonts.ready);
        const out = join(options.outDir, theme === "light" ? `${name}.png` : `${name}-dark.png`);
        const png = shrink(await page.locator("#frame").screenshot({ animations: "disabled" }), options.colors);
        writeFileSync(out, png);
        console.log(`  ${out}  ${(png.length / 1024).toFixed(0)} KB`);
        for (const note of notes) console.log(`    ${note}`);
      }
    }
  } finally {
    await browser.close();
  }
  process.exit(problems ? 1 : 0);
}

main().catch((error) => { console.error(error); process.exit(1); });
