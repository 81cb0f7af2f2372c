// The live page: camera -> hand landmarks (in the browser) -> WebSocket -> prediction + spelled
// text. The server spells (isyarat.runtime.spelling, one decoder for every face); the page sends
// each frame's capture time so the decoder counts seconds, whatever the device's frame rate.
import { startTracking } from "/static/camera.js";
import { HOLD_S, SPACE_AFTER_S, hasText, languageSwitch, t, translatePage } from "/static/i18n.js";

const $ = (id) => document.getElementById(id);
const MODEL_STORE = "isyarat.model";
const RETRY_S = [1, 2, 3, 5]; // waits between reconnection attempts, the last one repeated
const page = {
  models: [], model: null, socket: null, connected: false, stopped: false,
  camera: "camera", // "camera", "tracker", then "tracking"
  retryIn: null, // seconds until the next reconnection attempt while the server is lost
  inFlight: 0, frameId: 0, replies: 0, retries: 0, retryTimer: null,
  committed: "", serverText: "", frameTimes: [], latency: null,
  hint: "label.waiting", spelling: { hold_s: HOLD_S, space_after_s: SPACE_AFTER_S },
};

// ---- state shown on the page --------------------------------------------------------------------

// One status line for the camera, the tracker and the server together, the most urgent first.
function showStatus() {
  let state = "tracking";
  let vars = {};
  if (page.stopped) state = "error";
  else if (page.retryIn !== null) [state, vars] = ["server_lost", { s: page.retryIn }];
  else if (page.camera !== "tracking") state = page.camera;
  else if (!page.connected) state = page.retries ? "reconnecting" : "connecting";
  $("status").dataset.state = state;
  $("status").textContent = t(`state.${state}`, vars);
}

function showError(key, vars = {}) {
  page.stopped = true;
  $("error-text").textContent = t(`error.${key}`, vars);
  $("error").dataset.code = key;
  $("error").hidden = false;
  showStatus();
  clearPrediction("label.waiting");
}

function clearPrediction(hint) {
  page.hint = hint;
  $("label").textContent = "–";
  $("label").dataset.hasHand = "false";
  $("confidence").textContent = "";
  $("bars").innerHTML = "";
  $("hint").textContent = t(hint);
}

function shownText() {
  const gap = page.committed && page.serverText && !page.committed.endsWith(" ") ? " " : "";
  return page.committed + gap + page.serverText;
}

function showText() {
  const text = shownText();
  $("text").textContent = text || t("text.empty");
  $("text").dataset.empty = String(!text);
  $("text").dataset.text = text;
}

function showStats() {
  const times = page.frameTimes;
  const fps = times.length > 1 ? (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000) : 0;
  const vars = { fps: Number(fps.toFixed(fps < 10 ? 1 : 0)), ms: page.latency === null ? "–" : Number(page.latency.toFixed(1)) };
  $("stats").textContent = t(page.connected ? "stats" : "stats.fps", vars);
  $("stats").dataset.fps = fps.toFixed(2);
}

// ---- models -------------------------------------------------------------------------------------

const isLetters = (model) => model.labels.every((label) => label.length === 1);
const SYSTEM_NAMES = { SIBI: "SIBI", BISINDO: "BISINDO", "KATA KOLOK": "Kata Kolok", "KATA-KOLOK": "Kata Kolok" };
const systemKey = (model) => String(model.sign_system || "").toUpperCase().replace("-", " ");
const systemName = (model) => SYSTEM_NAMES[systemKey(model)] || model.sign_system || model.name;

function modelTitle(model) {
  return t(isLetters(model) ? "models.letters" : "models.words", { system: systemName(model) });
}

function modelAbout(model) {
  const key = `system.${systemKey(model)}`;
  const system = hasText(key) ? t(key) : t("system.other", { system: systemName(model) });
  const labels = model.labels.length > 30 ? `${model.labels.slice(0, 30).join(", ")}, …` : model.labels.join(", ");
  return `${system} ${t("models.signs", { n: model.labels.length, labels })}`;
}

// The last model chosen here, else SIBI letters (the system taught in schools), else the first.
function defaultModel(models) {
  let saved = null;
  try { saved = localStorage.getItem(MODEL_STORE); } catch { /* storage may be off */ }
  return models.find((m) => m.name === saved)
    || models.find((m) => systemKey(m) === "SIBI" && isLetters(m))
    || models[0];
}

// Word mode: a toggle beside the letter models. Letters are spelled as they are held; a word is
// written once its motion ends (isyarat.runtime.words on the server), then the label clears.
const modeOf = (model) => (isLetters(model) ? "letters" : "words");
const wordMode = () => page.models.some((m) => m.name === page.model && modeOf(m) === "words");

function renderModes() {
  const toggle = $("modes");
  toggle.innerHTML = "";
  const current = page.models.find((m) => m.name === page.model);
  for (const mode of ["letters", "words"]) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = t(`mode.${mode}`);
    button.dataset.mode = mode;
    button.disabled = !page.models.some((m) => modeOf(m) === mode);
    button.setAttribute("aria-pressed", String(Boolean(current) && modeOf(current) === mode));
    button.onclick = () => selectMode(mode);
    toggle.appendChild(button);
  }
}

// The chosen mode's model of the same sign system when there is one, else its first model.
function selectMode(mode) {
  const current = page.models.find((m) => m.name === page.model);
  const choices = page.models.filter((m) => modeOf(m) === mode);
  const same = choices.find((m) => current && systemKey(m) === systemKey(current));
  if (choices.length) selectModel((same || choices[0]).name);
}

function renderModels() {
  renderModes();
  const switcher = $("models");
  switcher.innerHTML = "";
  const current = page.models.find((m) => m.name === page.model);
  for (const model of page.models.filter((m) => !current || modeOf(m) === modeOf(current))) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = modelTitle(model);
    button.dataset.model = model.name;
    button.title = model.name;
    button.setAttribute("aria-pressed", String(model.name === page.model));
    button.onclick = () => selectModel(model.name);
    switcher.appendChild(button);
  }
  const chosen = page.models.find((m) => m.name === page.model);
  $("model-about").textContent = chosen ? modelAbout(chosen) : "";
}

function selectModel(name) {
  if (name === page.model && page.socket) return;
  page.model = name;
  try { localStorage.setItem(MODEL_STORE, name); } catch { /* storage may be off */ }
  renderModels();
  connect();
}

// ---- the WebSocket, with automatic reconnection ----------------------------------------------------

function connect() {
  clearTimeout(page.retryTimer);
  if (page.socket) {
    page.socket.onclose = null;
    page.socket.close();
    keepText();
  }
  page.connected = false;
  page.inFlight = 0;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/${encodeURIComponent(page.model)}`);
  page.socket = socket;
  page.retryIn = null;
  showStatus();
  socket.onopen = () => {
    page.connected = true;
    page.retries = 0;
    showStatus();
  };
  socket.onmessage = (event) => showReply(JSON.parse(event.data));
  socket.onclose = (event) => lost(event);
}

// The text so far stays on the page when the connection (and the server's decoder) is replaced.
function keepText() {
  page.committed = shownText();
  page.serverText = "";
}

function lost(event) {
  page.connected = false;
  page.socket = null;
  keepText();
  if (event.code === 1008) return showError("unknown_model", { reason: event.reason || page.model });
  clearPrediction("label.offline");
  showStats();
  const wait = RETRY_S[Math.min(page.retries, RETRY_S.length - 1)];
  page.retries += 1;
  // Counted on the clock, not in timer ticks: a busy page runs its timers late.
  const retryAt = performance.now() + 1000 * wait;
  const tick = () => {
    if (page.stopped) return;
    page.retryIn = Math.ceil((retryAt - performance.now()) / 1000);
    if (page.retryIn <= 0) return connect();
    showStatus();
    page.retryTimer = setTimeout(tick, 250);
  };
  tick();
}

// The chosen model reads the body pose too (the server says so): track with Holistic, send the pose.
const needsPose = () => Boolean(page.models.find((m) => m.name === page.model)?.pose);

function sendHands(slots, capturedAt, pose) {
  page.frameTimes.push(capturedAt);
  while (page.frameTimes.length > 2 && capturedAt - page.frameTimes[0] > 3000) page.frameTimes.shift();
  showStats();
  if (!page.connected) return;
  // At most two frames awaiting a reply: a slow link drops frames instead of queueing them.
  if (page.inFlight >= 2) return;
  // A model never gets input it was not trained on: no frame from Hands while the tracker switches to Holistic.
  if (needsPose() && pose === undefined) return;
  page.inFlight += 1;
  page.socket.send(JSON.stringify(compactFrame(slots, needsPose() ? pose : undefined, capturedAt, page.frameId++)));
}

// The compact frame message (isyarat.server.live): each hand as 63 numbers x0, y0, z0 ... to 4
// decimals (1/10,000 of the image), null when not seen; the pose (models that read the body) as
// 132 numbers x, y, z, visibility, null when no body is seen; the capture time to 0.1 ms.
function compactFrame(slots, pose, capturedAt, id) {
  const flat = (points) => (points ? points.flat().map((v) => Math.round(v * 1e4) / 1e4) : null);
  const message = { left: flat(slots[0]), right: flat(slots[1]), t: Math.round(capturedAt * 10) / 10, id };
  if (pose !== undefined) message.pose = flat(pose);
  return message;
}

function showReply(reply) {
  if (reply.reset) return;
  page.inFlight = Math.max(0, page.inFlight - 1);
  if (reply.error) {
    $("hint").textContent = t("error.server", { reason: reply.error });
    return;
  }
  page.replies += 1;
  page.latency = reply.latency_ms ?? null;
  page.serverText = reply.text ?? "";
  showText();
  if (reply.added) announce(reply.added);
  $("label").dataset.count = String(page.replies);
  if (!reply.has_hand && !reply.label) return clearPrediction("label.no_hand"); // a word is shown a moment after the hands drop
  page.hint = reply.label ? "" : reply.unknown ? "label.unknown" : wordMode() ? "label.reading_word" : "label.no_sign";
  $("label").dataset.hasHand = "true";
  $("label").textContent = reply.label ?? "?";
  $("confidence").textContent = `${Math.round(100 * (reply.confidence || 0))}%`;
  $("hint").textContent = page.hint ? t(page.hint) : "";
  // A reply to a compact message carries the top labels, best first; an older one every probability.
  const top = reply.top || Object.entries(reply.probabilities || {}).sort((a, b) => b[1] - a[1]);
  showBars(top.slice(0, 5));
}

function announce(added) {
  const words = added.trim() ? t(wordMode() ? "announce.word" : "announce.letter", { letter: added.trim() })
    : t("announce.space");
  $("announce").textContent = words;
}

function showBars(top) {
  $("bars").innerHTML = "";
  for (const [name, p] of top) {
    const row = document.createElement("div");
    row.className = "bar";
    row.innerHTML = `<span class="name"></span><span class="track"><span class="fill"></span></span><span class="value"></span>`;
    row.querySelector(".name").textContent = name;
    row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    row.querySelector(".value").textContent = `${Math.round(100 * p)}%`;
    $("bars").appendChild(row);
  }
}

// ---- buttons and start-up -------------------------------------------------------------------------

function speak() {
  const text = shownText().trim();
  if (!text || !("speechSynthesis" in window)) return;
  const utterance = new SpeechSynthesisUtterance(text);
  utterance.lang = "id-ID";
  speechSynthesis.speak(utterance);
}

function clearText() {
  if (page.connected) page.socket.send(JSON.stringify({ reset: true }));
  page.committed = "";
  page.serverText = "";
  showText();
}

// Everything that is not in the HTML, again in the newly chosen language.
function retranslate() {
  translatePage("live.title", { hold: page.spelling.hold_s, space: page.spelling.space_after_s });
  renderModels();
  showStatus();
  if (!$("error").hidden) $("error-text").textContent = t(`error.${$("error").dataset.code}`, { port: location.port || 80 });
  $("hint").textContent = page.hint ? t(page.hint) : "";
  showText();
  showStats();
}

function openGuideOnFirstVisit() {
  let seen = false;
  try {
    seen = localStorage.getItem("isyarat.guide-seen") === "1";
    localStorage.setItem("isyarat.guide-seen", "1");
  } catch { /* storage may be off */ }
  $("guide").open = !seen;
}

async function loadModels() {
  for (;;) {
    try {
      const [models, health] = await Promise.all([(await fetch("/api/models")).json(), (await fetch("/api/health")).json()]);
      page.spelling = health.spelling || page.spelling;
      page.retryIn = null;
      return models;
    } catch {
      page.retryIn = 2;
      showStatus();
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

async function start() {
  languageSwitch($("languages"), "live.title", retranslate);
  openGuideOnFirstVisit();
  clearPrediction("label.waiting");
  showStatus();
  showText();
  $("speak").onclick = speak;
  $("clear").onclick = clearText;
  $("reload").onclick = () => location.reload();
  page.models = await loadModels();
  retranslate();
  selectModel(defaultModel(page.models).name);
  const failed = (err) => showError(err.code || "camera_other", { name: err.detail || err.message || String(err), port: location.port || 80 });
  try {
    await startTracking($("video"), $("overlay"), sendHands, (state) => {
      page.camera = state;
      if (state === "tracking") clearPrediction("label.no_hand");
      showStatus();
    }, needsPose, failed);
  } catch (err) {
    failed(err);
  }
}

start();
