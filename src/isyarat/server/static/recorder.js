// The recorder page: record a few seconds of hand landmarks per sample and save them for training.
// A sample lasts a time, not a number of frames, so a slow device records the same movement.
import { startTracking } from "/static/camera.js";
import { languageSwitch, t } from "/static/i18n.js";

const $ = (id) => document.getElementById(id);
const MIN_FRAMES = 2; // a slow device keeps recording past the time until it has this many
let recording = null; // the sample being recorded, or null
let camera = "camera";
let dataDir = "";
let progress = null; // [key, vars] of the progress line, shown again in a new language

function showError(key, vars = {}) {
  $("error-text").textContent = key ? t(key, vars) : "";
  $("error").hidden = !key;
}

function showProgress(key, vars) {
  progress = [key, vars];
  $("progress").textContent = t(key, vars);
}

function showStatus() {
  $("status").dataset.state = camera;
  $("status").textContent = t(`state.${camera}`);
  $("data-dir").textContent = dataDir ? t("rec.data_dir", { path: dataDir }) : "";
}

function onHands(slots, capturedAt) {
  if (!recording) return;
  recording.started ??= capturedAt;
  recording.frames.push(slots);
  const elapsed = (capturedAt - recording.started) / 1000;
  const n = recording.frames.length;
  $("progress-bar").value = Math.min(1, elapsed / recording.seconds);
  if (elapsed >= recording.seconds && n >= MIN_FRAMES) return save(recording);
  if (elapsed >= recording.seconds) return showProgress("rec.waiting", { n: n + 1 });
  showProgress("rec.recording", { s: Number(elapsed.toFixed(1)), total: recording.seconds, n });
}

async function save(sample) {
  recording = null;
  $("record").disabled = false;
  const response = await fetch("/api/recordings", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ vocabulary: sample.vocabulary, label: sample.label, frames: sample.frames }),
  });
  const body = await response.json();
  $("progress-bar").hidden = true;
  if (!response.ok) {
    progress = null;
    $("progress").textContent = "";
    return showError("rec.failed", { reason: body.detail || response.status });
  }
  showProgress("rec.saved", { path: body.saved, n: body.frames });
  showSummary(body);
}

function showSummary(summary) {
  const tbody = $("counts").querySelector("tbody");
  tbody.innerHTML = "";
  for (const [label, n] of Object.entries(summary.counts)) {
    const row = tbody.insertRow();
    row.insertCell().textContent = label;
    row.insertCell().textContent = String(n);
  }
  $("command").textContent = summary.train_command;
}

async function refresh() {
  const vocabulary = $("vocabulary").value.trim();
  if (!vocabulary || !$("vocabulary").checkValidity()) return;
  const response = await fetch(`/api/recordings/${encodeURIComponent(vocabulary)}`);
  if (response.ok) showSummary(await response.json());
}

function startRecording(event) {
  event.preventDefault();
  showError("");
  const seconds = Number($("seconds").value);
  const sample = { vocabulary: $("vocabulary").value.trim(), label: $("sign").value.trim(), frames: [], seconds };
  $("record").disabled = true;
  $("progress-bar").value = 0;
  $("progress-bar").hidden = false;
  let left = 3;
  const countdown = () => {
    if (left === 0) {
      recording = sample;
      return showProgress("rec.recording", { s: 0, total: seconds, n: 0 });
    }
    showProgress("rec.get_ready", { n: left });
    left -= 1;
    setTimeout(countdown, 1000);
  };
  countdown();
}

function retranslate() {
  showStatus();
  if (progress) showProgress(...progress);
}

async function start() {
  languageSwitch($("languages"), "rec.title", retranslate);
  showStatus();
  $("form").onsubmit = startRecording;
  $("vocabulary").onchange = refresh;
  try {
    dataDir = (await (await fetch("/api/recordings")).json()).data_dir;
  } catch { /* shown once the server answers */ }
  showStatus();
  refresh();
  try {
    await startTracking($("video"), $("overlay"), onHands, (state) => { camera = state; showStatus(); });
  } catch (err) {
    camera = "error";
    showStatus();
    showError(`error.${err.code || "camera_other"}`, { name: err.detail || err.message || String(err), port: location.port || 80 });
  }
}

start();
