// Camera + hand tracking in the browser with @mediapipe/hands (served by the app at /vendor/hands/).
// The video never leaves the device: callers get 21 landmarks per hand and send only those.
//
// Hand slots follow the project's convention (docs/ARCHITECTURE.md): slot 0 is the signer's LEFT
// hand, slot 1 the signer's RIGHT hand, in the coordinates of the UN-mirrored camera image.
// MediaPipe is fed the raw (un-mirrored) camera frames; the page only mirrors what it shows. Like
// the Python legacy solution, MediaPipe labels handedness as if its input were a mirrored selfie,
// so on raw frames its "Left" is the signer's right hand (slot 1) and "Right" the left (slot 0).
// When both hands get the same label, the one with the smaller x is the signer's right hand.
// This is the same rule as isyarat.landmarks.hands.assign_slots, so browser and Python agree.

export const LEFT = 0;
export const RIGHT = 1;
const LABEL_TO_SLOT = { Left: RIGHT, Right: LEFT };
const CONNECTIONS = [
  [0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [5, 9], [9, 10], [10, 11],
  [11, 12], [9, 13], [13, 14], [14, 15], [15, 16], [13, 17], [17, 18], [18, 19], [19, 20], [0, 17],
];

function meanX(points) {
  return points.reduce((sum, p) => sum + p.x, 0) / points.length;
}

// MediaPipe results -> [left or null, right or null], each 21 [x, y, z].
export function toSlots(results) {
  const slots = [null, null];
  const found = results.multiHandLandmarks || [];
  const labels = (results.multiHandedness || []).map((h) => h.label);
  let order = labels.map((label) => LABEL_TO_SLOT[label]);
  if (found.length === 2 && labels[0] === labels[1]) {
    order = meanX(found[0]) <= meanX(found[1]) ? [RIGHT, LEFT] : [LEFT, RIGHT];
  }
  found.forEach((points, i) => {
    slots[order[i]] = points.map((p) => [p.x, p.y, p.z]);
  });
  return slots;
}

export function drawHands(canvas, slots) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  slots.forEach((points, slot) => {
    if (!points) return;
    const xy = points.map(([x, y]) => [x * canvas.width, y * canvas.height]);
    ctx.strokeStyle = slot === RIGHT ? "#2e9d5b" : "#3b6fd6";
    ctx.lineWidth = 3;
    for (const [a, b] of CONNECTIONS) {
      ctx.beginPath();
      ctx.moveTo(...xy[a]);
      ctx.lineTo(...xy[b]);
      ctx.stroke();
    }
    ctx.fillStyle = "#ffffff";
    for (const [x, y] of xy) {
      ctx.beginPath();
      ctx.arc(x, y, 4, 0, 2 * Math.PI);
      ctx.fill();
    }
  });
}

// Start the camera and the tracker; onHands(slots) is called once per processed frame.
export async function startTracking(video, canvas, onHands) {
  const health = await (await fetch("/api/health")).json();
  if (!health.browser_hands) throw new Error(health.message);
  if (typeof Hands === "undefined") throw new Error("the hand tracker script did not load from /vendor/hands/hands.js");
  const hands = new Hands({ locateFile: (file) => `/vendor/hands/${file}` });
  hands.setOptions({ maxNumHands: 2, modelComplexity: 1, minDetectionConfidence: 0.5, minTrackingConfidence: 0.5 });
  hands.onResults((results) => {
    const slots = toSlots(results);
    drawHands(canvas, slots);
    onHands(slots);
  });
  video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  await video.play();
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const tick = async () => {
    if (video.readyState >= 2) await hands.send({ image: video });
    requestAnimationFrame(tick);
  };
  tick();
}
