// Camera + tracking in the browser with MediaPipe (served by the app at /vendor/hands/ and
// /vendor/holistic/): @mediapipe/hands for hand models, @mediapipe/holistic (body pose + hands)
// for models and vocabularies that read the body too (Kata Kolok). The video never leaves the
// device: callers get 21 landmarks per hand (and 33 pose points) and send only those.
//
// Hand slots follow the project's convention (docs/ARCHITECTURE.md): slot 0 is the signer's LEFT
// hand, slot 1 the signer's RIGHT hand, in the coordinates of the UN-mirrored camera image.
// MediaPipe is fed the raw (un-mirrored) camera frames; the page only mirrors what it shows. Like
// the Python legacy solution, MediaPipe labels handedness as if its input were a mirrored selfie,
// so on raw frames its "Left" is the signer's right hand (slot 1) and "Right" the left (slot 0).
// When both hands get the same label, the one whose WRIST has the smaller x is the signer's right
// hand: the same rule as isyarat.landmarks.hands.assign_slots (tests/test_browser.py runs both).
// Holistic names hands from the person's own side, like its pose (as in landmarks/holistic.py):
// its leftHandLandmarks is slot 0.

export const LEFT = 0;
export const RIGHT = 1;
const LABEL_TO_SLOT = { Left: RIGHT, Right: LEFT };
const WRIST = 0;
const CONNECTIONS = [
  [0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [5, 9], [9, 10], [10, 11],
  [11, 12], [9, 13], [13, 14], [14, 15], [15, 16], [13, 17], [17, 18], [18, 19], [19, 20], [0, 17],
];
// Coloured lines over a wider white outline and dark points: visible on any background.
export const COLOURS = { [LEFT]: "#e8590c", [RIGHT]: "#1864ab" };

// A camera or tracker failure, with a `code` the page turns into a message in its language.
export class TrackingError extends Error {
  constructor(code, detail = "") {
    super(`${code}${detail ? `: ${detail}` : ""}`);
    this.code = code;
    this.detail = detail;
  }
}

// Slot per detected hand (0 left, 1 right) from MediaPipe's handedness labels and landmarks.
export function assignSlots(hands, labels) {
  if (hands.length === 2 && labels[0] === labels[1]) {
    return hands[0][WRIST].x <= hands[1][WRIST].x ? [RIGHT, LEFT] : [LEFT, RIGHT];
  }
  return labels.map((label) => LABEL_TO_SLOT[label]);
}

// MediaPipe results -> [left or null, right or null], each 21 [x, y, z].
export function toSlots(results) {
  const slots = [null, null];
  const found = results.multiHandLandmarks || [];
  const labels = (results.multiHandedness || []).map((h) => h.label);
  assignSlots(found, labels).forEach((slot, i) => {
    slots[slot] = found[i].map((p) => [p.x, p.y, p.z]);
  });
  return slots;
}

// Holistic results -> [left or null, right or null] and the pose: 33 [x, y, z, visibility] or null.
export function holisticSlots(results) {
  const points = (found) => (found ? found.map((p) => [p.x, p.y, p.z]) : null);
  const pose = results.poseLandmarks ? results.poseLandmarks.map((p) => [p.x, p.y, p.z, p.visibility ?? 0]) : null;
  return [[points(results.leftHandLandmarks), points(results.rightHandLandmarks)], pose];
}

// The processed frame and its hands' skeletons, so the skeleton lines up with the hand it came from.
export function drawFrame(canvas, frame, slots) {
  const ctx = canvas.getContext("2d");
  ctx.drawImage(frame, 0, 0, canvas.width, canvas.height);
  slots.forEach((points, slot) => {
    if (!points) return;
    const xy = points.map(([x, y]) => [x * canvas.width, y * canvas.height]);
    ctx.lineCap = "round";
    for (const [width, colour] of [[7, "#ffffff"], [3, COLOURS[slot]]]) {
      ctx.lineWidth = width;
      ctx.strokeStyle = colour;
      for (const [a, b] of CONNECTIONS) {
        ctx.beginPath();
        ctx.moveTo(...xy[a]);
        ctx.lineTo(...xy[b]);
        ctx.stroke();
      }
    }
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#ffffff";
    ctx.fillStyle = COLOURS[slot];
    for (const [x, y] of xy) {
      ctx.beginPath();
      ctx.arc(x, y, 4.5, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
    }
  });
}

function cameraError(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError") return new TrackingError("camera_refused", name);
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
    return new TrackingError("camera_missing", name);
  }
  if (name === "NotReadableError" || name === "AbortError") return new TrackingError("camera_busy", name);
  return new TrackingError("camera_other", name || String(err));
}

async function openCamera(video) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new TrackingError("camera_insecure");
  }
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) {
    throw cameraError(err);
  }
  await video.play();
}

function loadScript(src) {
  if (document.querySelector(`script[src="${src}"]`)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.crossOrigin = "anonymous";
    script.onload = resolve;
    script.onerror = () => reject(new TrackingError("tracker_missing", src));
    document.head.appendChild(script);
  });
}

// A MediaPipe solution: Holistic when `pose`, else Hands. onResults(slots, pose) gets pose
// undefined from Hands (it has none), null from Holistic when no body is in view.
async function makeTracker(pose, health, onResults) {
  if (!(pose ? health.browser_holistic : health.browser_hands)) throw new TrackingError(pose ? "holistic_missing" : "tracker_missing");
  const name = pose ? "holistic" : "hands";
  await loadScript(`/vendor/${name}/${name}.js`);
  const Solution = pose ? globalThis.Holistic : globalThis.Hands;
  if (typeof Solution === "undefined") throw new TrackingError(pose ? "holistic_missing" : "tracker_missing");
  const solution = new Solution({ locateFile: (file) => `/vendor/${name}/${file}` });
  solution.setOptions(pose
    ? { modelComplexity: 1, smoothLandmarks: true, minDetectionConfidence: 0.5, minTrackingConfidence: 0.5 }
    : { maxNumHands: 2, modelComplexity: 1, minDetectionConfidence: 0.5, minTrackingConfidence: 0.5 });
  try {
    await solution.initialize();
  } catch (err) {
    throw new TrackingError("tracker_failed", String((err && err.message) || err));
  }
  solution.onResults((results) => (pose ? onResults(...holisticSlots(results)) : onResults(toSlots(results), undefined)));
  return { pose, solution };
}

// Start the camera and the tracker. onState(name) reports "camera", "tracker" and "tracking";
// onHands(slots, t, pose) is called once per processed frame with its capture time t
// (performance.now(), ms) and, while Holistic runs, the pose. usePose() is asked before every
// frame whether the body pose is wanted (a pose model or vocabulary is chosen): the tracker is
// switched between Hands and Holistic when the answer changes (a failure then goes to onError).
// The frame is copied when it is sent to the tracker and drawn with its skeleton into `canvas`
// when the landmarks come back.
export async function startTracking(video, canvas, onHands, onState = () => {}, usePose = () => false,
  onError = (err) => { throw err; }) {
  const health = await (await fetch("/api/health")).json();
  if (!(usePose() ? health.browser_holistic : health.browser_hands)) {
    throw new TrackingError(usePose() ? "holistic_missing" : "tracker_missing");
  }
  onState("camera");
  await openCamera(video);
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const frame = document.createElement("canvas");
  frame.width = canvas.width;
  frame.height = canvas.height;
  let sentAt = 0;
  const onResults = (slots, pose) => {
    drawFrame(canvas, frame, slots);
    onHands(slots, sentAt, pose);
  };
  const open = async (pose) => {
    onState("tracker");
    const made = await makeTracker(pose, health, onResults);
    onState("tracking");
    return made;
  };
  let tracker = await open(Boolean(usePose()));
  // One tracker call per new camera frame (never the same frame twice); a paused video pauses tracking.
  const next = (callback) => (video.requestVideoFrameCallback
    ? video.requestVideoFrameCallback(callback) : requestAnimationFrame(callback));
  const tick = async () => {
    try {
      const pose = Boolean(usePose());
      if (pose !== tracker.pose) {
        const old = tracker;
        tracker = await open(pose);
        old.solution.close();
      }
      if (video.readyState >= 2) {
        frame.getContext("2d").drawImage(video, 0, 0, frame.width, frame.height);
        sentAt = performance.now();
        await tracker.solution.send({ image: frame });
      }
    } catch (err) {
      return onError(err);
    }
    next(tick);
  };
  tick();
}
