// The recorder page: record a few seconds of landmarks per sample, save them, train a word model
// on them (or calibrate a served model to them), and use it on the live page without a restart.
// A sample lasts a time, not a number of frames, so a slow device records the same movement.
// A vocabulary that reads the body (Kata Kolok) is recorded with MediaPipe Holistic: pose + hands.
import { startTracking } from "/static/camera.js";
import { languageSwitch, t } from "/static/i18n.js";

const $ = (id) => document.getElementById(id);
const MIN_FRAMES = 2; // a slow device keeps recording past the time until it has this many
const SAVE_TRIES = 4; // a save that fails on the network is sent again, with the same sample id
const POLL_MS = 1000;
const MODEL_STORE = "isyarat.model"; // the live page opens the model named here
let recording = null; // the sample being recorded, or null
let camera = "camera";
let dataDir = "";
let builtin = []; // the built-in vocabularies: {name, title, labels, pose}
let summary = null; // the chosen vocabulary as the server last described it
const shown = {}; // [key, vars] of each message line, shown again in a new language

function say(id, key, vars = {}) {
  shown[id] = key ? [key, vars] : null;
  $(id).textContent = key ? t(key, vars) : "";
}

function showError(key, vars = {}) {
  say("error-text", key, vars);
  $("error").hidden = !key;
}

function showStatus() {
  $("status").dataset.state = camera;
  $("status").textContent = t(`state.${camera}`);
  $("data-dir").textContent = dataDir ? t("rec.data_dir", { path: dataDir }) : "";
}

// A random id per take: the server saves a take once however often the page sends it.
function newSampleId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// "jarak=1 m, cahaya=redup" -> {jarak: "1 m", cahaya: "redup"}, with the signer as "signer".
function sessionTags() {
  const tags = {};
  for (const part of $("conditions").value.split(",")) {
    const [name, ...value] = part.split("=");
    if (name.trim() && value.length) tags[name.trim().toLowerCase()] = value.join("=").trim();
  }
  if ($("signer").value.trim()) tags.signer = $("signer").value.trim();
  return tags;
}

function onHands(slots, capturedAt, pose) {
  if (!recording) return;
  if (recording.pose && pose === undefined) return; // the tracker is still switching to Holistic
  recording.started ??= capturedAt;
  recording.frames.push(slots);
  if (recording.pose) recording.poses.push(pose ?? null);
  const elapsed = (capturedAt - recording.started) / 1000;
  const n = recording.frames.length;
  $("progress-bar").value = Math.min(1, elapsed / recording.seconds);
  if (elapsed >= recording.seconds && n >= MIN_FRAMES) return save(recording);
  if (elapsed >= recording.seconds) return say("progress", "rec.waiting", { n: n + 1 });
  say("progress", "rec.recording", { s: Number(elapsed.toFixed(1)), total: recording.seconds, n });
}

// POST the sample; a network failure is retried with the same sample_id, so it is saved once.
async function post(body) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fetch("/api/recordings", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    } catch (err) {
      if (attempt >= SAVE_TRIES) throw err;
      say("progress", "rec.retrying", { n: attempt });
      await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
    }
  }
}

async function save(sample) {
  recording = null;
  say("progress", "rec.saving");
  const body = JSON.stringify({
    vocabulary: sample.vocabulary, label: sample.label, frames: sample.frames, sample_id: sample.id,
    tags: sample.tags, ...(sample.pose ? { pose: sample.poses } : {}),
  });
  let response;
  let reply;
  try {
    response = await post(body);
    reply = await response.json();
  } catch (err) {
    reply = { detail: String(err.message || err) };
  }
  $("record").disabled = false;
  $("progress-bar").hidden = true;
  if (!response || !response.ok) {
    say("progress", "");
    return showError("rec.failed", { reason: reply.detail || (response && response.status) });
  }
  // Said only now: the server answers after the sample is on disk (written, flushed, renamed).
  say("progress", "rec.saved", { path: reply.saved, n: reply.frames });
  showSummary(reply);
}

function showSummary(next) {
  summary = next;
  const tbody = $("counts").querySelector("tbody");
  tbody.innerHTML = "";
  for (const [label, n] of Object.entries(summary.counts)) {
    const row = tbody.insertRow();
    row.insertCell().textContent = label;
    row.insertCell().textContent = String(n);
  }
  $("command").textContent = summary.train_command;
  const recorded = Object.keys(summary.counts).length > 0;
  if (summary.pose !== null) $("pose").checked = summary.pose;
  $("pose").disabled = recorded; // one vocabulary is recorded all with pose or all without
  say("pose-note", recorded ? "rec.pose_fixed" : "");
  fillAdaptModels();
}

async function refresh() {
  const vocabulary = $("vocabulary").value.trim();
  if (!vocabulary || !$("vocabulary").checkValidity()) return;
  const known = builtin.find((v) => v.name === vocabulary);
  fillOptions($("signs"), known ? known.labels : []);
  const response = await fetch(`/api/recordings/${encodeURIComponent(vocabulary)}`);
  if (response.ok) showSummary(await response.json());
  const job = await fetch(`/api/train/${encodeURIComponent(vocabulary)}`);
  if (job.ok) followTraining(await job.json()); // a reload shows a training that is still going
  else showTraining(null);
}

function fillOptions(list, values) {
  list.innerHTML = "";
  for (const value of values) list.appendChild(new Option(value, value));
}

function startRecording(event) {
  event.preventDefault();
  showError("");
  const seconds = Number($("seconds").value);
  const sample = {
    vocabulary: $("vocabulary").value.trim(), label: $("sign").value.trim(), frames: [], poses: [], seconds,
    pose: $("pose").checked, tags: sessionTags(), id: newSampleId(),
  };
  $("record").disabled = true;
  $("progress-bar").value = 0;
  $("progress-bar").hidden = false;
  let left = 3;
  const countdown = () => {
    if (left === 0) {
      recording = sample;
      return say("progress", "rec.recording", { s: 0, total: seconds, n: 0 });
    }
    say("progress", "rec.get_ready", { n: left });
    left -= 1;
    setTimeout(countdown, 1000);
  };
  countdown();
}

// ---- train: a background job on the server, polled until its model is served -------------------

function showTraining(job) {
  $("train").disabled = Boolean(job && job.state === "running");
  $("train-bar").hidden = !job || job.state !== "running";
  if (!job) return say("train-status", "");
  $("train-bar").value = job.epochs ? job.epoch / job.epochs : 0;
  if (job.state === "failed") return say("train-status", "rec.train_failed", { reason: job.error });
  if (job.state === "done") {
    try { localStorage.setItem(MODEL_STORE, job.model); } catch { /* storage may be off */ }
    const accuracy = job.accuracy === null ? "–" : `${Math.round(100 * job.accuracy)}%`;
    return say("train-status", "rec.train_done", { model: job.model, accuracy, n: job.test_samples ?? 0, s: job.seconds });
  }
  if (job.phase === "train" && job.epochs) {
    return say("train-status", "rec.training", { epoch: job.epoch, epochs: job.epochs, s: job.seconds });
  }
  say("train-status", `rec.phase_${job.phase}`, { s: job.seconds });
}

async function followTraining(job) {
  showTraining(job);
  while (job.state === "running") {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const response = await fetch(`/api/train/${encodeURIComponent(job.vocabulary)}`);
    if (!response.ok) return;
    job = await response.json();
    showTraining(job);
  }
}

async function train() {
  const vocabulary = $("vocabulary").value.trim();
  $("train").disabled = true;
  const response = await fetch("/api/train", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ vocabulary }),
  });
  const body = await response.json();
  if (!response.ok) {
    $("train").disabled = false;
    return say("train-status", "rec.train_failed", { reason: body.detail || response.status });
  }
  followTraining(body);
}

// ---- calibrate a served model to the recordings (POST /api/adapt) -------------------------------

async function fillAdaptModels() {
  const models = await (await fetch("/api/models")).json();
  const pose = Boolean(summary && summary.pose);
  const select = $("adapt-model");
  const chosen = select.value;
  // Only models that read what was recorded: a pose model needs pose recordings.
  fillOptions(select, models.filter((m) => m.input !== "pixels" && (!m.pose || pose)).map((m) => m.name));
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

async function adapt() {
  const model = $("adapt-model").value;
  const vocabulary = $("vocabulary").value.trim();
  $("adapt").disabled = true;
  say("adapt-status", "rec.adapting", { model, vocabulary });
  let response;
  let body;
  try {
    response = await fetch("/api/adapt", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ model, vocabulary }),
    });
    body = await response.json();
  } catch (err) {
    body = { detail: String(err.message || err) };
  }
  $("adapt").disabled = false;
  if (!response || !response.ok) return say("adapt-status", "rec.adapt_failed", { reason: body.detail || (response && response.status) });
  try { localStorage.setItem(MODEL_STORE, body.model); } catch { /* storage may be off */ }
  say("adapt-status", "rec.adapt_done", {
    model: body.model, n: body.samples, s: Number(body.seconds.toFixed(1)),
    added: body.new_labels.length ? body.new_labels.join(", ") : "–",
  });
  fillAdaptModels();
}

// ---- start-up ----------------------------------------------------------------------------------

function retranslate() {
  showStatus();
  for (const [id, message] of Object.entries(shown)) if (message) $(id).textContent = t(...message);
  $("builtin").options[0].textContent = t("rec.builtin_none");
}

function chooseBuiltin() {
  const known = builtin.find((v) => v.name === $("builtin").value);
  if (!known) return;
  $("vocabulary").value = known.name;
  $("pose").checked = known.pose;
  refresh();
}

async function loadLists() {
  builtin = await (await fetch("/api/vocabularies")).json();
  for (const v of builtin.filter((v) => v.unit === "words")) {
    $("builtin").appendChild(new Option(`${v.title} (${v.labels.length})`, v.name));
  }
  const recordings = await (await fetch("/api/recordings")).json();
  dataDir = recordings.data_dir;
  fillOptions($("vocabularies"), recordings.vocabularies.map((v) => v.vocabulary));
  const asked = new URLSearchParams(location.search).get("vocabulary");
  if (asked) $("vocabulary").value = asked;
  const known = builtin.find((v) => v.name === $("vocabulary").value.trim());
  if (known) {
    $("builtin").value = known.name;
    $("pose").checked = known.pose;
  }
}

async function start() {
  languageSwitch($("languages"), "rec.title", retranslate);
  showStatus();
  $("form").onsubmit = startRecording;
  $("vocabulary").onchange = refresh;
  $("builtin").onchange = chooseBuiltin;
  $("train").onclick = train;
  $("adapt").onclick = adapt;
  try {
    await loadLists();
  } catch { /* shown once the server answers */ }
  showStatus();
  await refresh().catch(() => {});
  const failed = (err) => {
    camera = "error";
    showStatus();
    showError(`error.${err.code || "camera_other"}`, { name: err.detail || err.message || String(err), port: location.port || 80 });
  };
  try {
    await startTracking($("video"), $("overlay"), onHands, (state) => { camera = state; showStatus(); },
      () => $("pose").checked, failed);
  } catch (err) {
    failed(err);
  }
}

start();
