// The live page: camera -> hand landmarks (in the browser) -> WebSocket -> prediction + spelled text.
import { startTracking } from "/static/camera.js";

const $ = (id) => document.getElementById(id);
let socket = null;
let inFlight = 0;
let frameId = 0;
let replies = 0;

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

async function loadModels() {
  const models = await (await fetch("/api/models")).json();
  const switcher = $("models");
  switcher.innerHTML = "";
  models.forEach((model, i) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `${model.sign_system || "?"} · ${model.name}`;
    button.title = `${model.labels.length} signs: ${model.labels.join(", ")}`;
    button.onclick = () => selectModel(model.name, button);
    switcher.appendChild(button);
    if (i === 0) selectModel(model.name, button);
  });
}

function selectModel(name, button) {
  document.querySelectorAll("#models button").forEach((b) => b.classList.toggle("active", b === button));
  if (socket) socket.close();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/${encodeURIComponent(name)}`);
  inFlight = 0;
  socket.onmessage = (event) => showReply(JSON.parse(event.data));
  socket.onclose = (event) => { if (event.reason) showError(event.reason); };
}

function sendHands(slots) {
  // At most two frames awaiting a reply: a slow link drops frames instead of queueing them.
  if (!socket || socket.readyState !== WebSocket.OPEN || inFlight >= 2) return;
  inFlight += 1;
  socket.send(JSON.stringify({ hands: slots, id: frameId++ }));
}

function showReply(reply) {
  if (reply.reset) return;
  inFlight = Math.max(0, inFlight - 1);
  if (reply.error) return showError(reply.error);
  replies += 1;
  const label = $("label");
  label.textContent = reply.label ?? (reply.has_hand ? "no sign" : "no hand");
  label.dataset.count = String(replies);
  label.dataset.hasHand = String(Boolean(reply.has_hand));
  $("confidence").textContent = reply.has_hand ? `${Math.round(100 * (reply.confidence || 0))}%` : "";
  $("latency").textContent = reply.latency_ms !== undefined ? `${reply.latency_ms.toFixed(1)} ms` : "";
  $("text").textContent = reply.text ?? "";
  if (reply.probabilities) showBars(reply.probabilities);
}

function showBars(probabilities) {
  const top = Object.entries(probabilities).sort((a, b) => b[1] - a[1]).slice(0, 5);
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

function speak() {
  const text = $("text").textContent.trim();
  if (!text || !("speechSynthesis" in window)) return;
  const utterance = new SpeechSynthesisUtterance(text);
  utterance.lang = "id-ID";
  speechSynthesis.speak(utterance);
}

function clearText() {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ reset: true }));
  $("text").textContent = "";
}

$("speak").onclick = speak;
$("clear").onclick = clearText;
loadModels()
  .then(() => startTracking($("video"), $("overlay"), sendHands))
  .then(() => { $("status").textContent = "tracking"; })
  .catch((err) => showError(String(err.message || err)));
