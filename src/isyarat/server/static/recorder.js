// The recorder page: record N frames of hand landmarks per sample and save them for training.
import { startTracking } from "/static/camera.js";

const $ = (id) => document.getElementById(id);
let recording = null; // frames of the sample being recorded, or null

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function onHands(slots) {
  if (!recording) return;
  recording.frames.push(slots);
  $("progress").textContent = `recording ${recording.frames.length} / ${recording.target} frames`;
  if (recording.frames.length >= recording.target) save(recording);
}

async function save(sample) {
  recording = null;
  const response = await fetch("/api/recordings", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ vocabulary: sample.vocabulary, label: sample.label, frames: sample.frames }),
  });
  const body = await response.json();
  if (!response.ok) return showError(body.detail || `saving failed (${response.status})`);
  $("progress").textContent = `saved ${body.saved} (${body.frames} frames)`;
  showSummary(body);
}

function showSummary(summary) {
  const rows = Object.entries(summary.counts).map(([label, n]) => `<tr><td></td><td>${n}</td></tr>`);
  const tbody = $("counts").querySelector("tbody");
  tbody.innerHTML = rows.join("");
  Object.keys(summary.counts).forEach((label, i) => { tbody.rows[i].cells[0].textContent = label; });
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
  const target = Number($("frames").value);
  const sample = { vocabulary: $("vocabulary").value.trim(), label: $("sign").value.trim(), frames: [], target };
  let seconds = 3;
  const countdown = setInterval(() => {
    $("progress").textContent = `get ready: ${seconds}`;
    if (seconds-- === 0) {
      clearInterval(countdown);
      recording = sample;
    }
  }, 1000);
}

$("form").onsubmit = startRecording;
$("vocabulary").onchange = refresh;
refresh();
startTracking($("video"), $("overlay"), onHands)
  .then(() => { $("status").textContent = "tracking"; })
  .catch((err) => showError(String(err.message || err)));
