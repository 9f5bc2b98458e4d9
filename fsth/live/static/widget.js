// fsth's live page: camera frames to the kernel as JPEG, marked frames back, one frame in flight.
//
// An anywidget module (fsth/live/widget.py); fsth live's page (page.js) runs the same render() with
// a websocket standing in for the widget's model. What it uses of the model: get, set, save_changes,
// on("change:NAME"), on("msg:custom") and send(content, callbacks, buffers) — the protocol is in
// fsth/live/session.py.

const CAPTURE_WIDTH = 640; // px: camera frames are sent at most this wide
const JPEG_QUALITY = 0.8;
const STAGES = ["decode", "track", "adapt", "render", "mark", "encode"];
const WINDOW = 30; // frames in the running frames/s and latency figures
// Frames sent and not answered yet, at most. Two: the kernel renders one while the other travels
// (JupyterLab's relay adds ~20 ms each way), so frames/s follow the kernel's time, not the round
// trip; latency grows by at most one kernel time. One would leave the kernel idle during transport.
const MAX_IN_FLIGHT = 2;

function element(tag, className, parent, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : NaN;
}

function render({ model, el }) {
  const root = element("div", "fsth-live", el);
  const bar = element("div", "fsth-live-bar", root);
  const start = element("button", "fsth-live-start", bar, "Start camera");
  const stop = element("button", "fsth-live-stop", bar, "Stop");
  const record = element("button", "fsth-live-record", bar, "Record");
  element("label", "", bar, "method");
  const method = element("select", "fsth-live-method", bar);
  element("label", "", bar, "portrait");
  const portrait = element("select", "fsth-live-portrait", bar);
  element("label", "", bar, "or a photo");
  const upload = element("input", "fsth-live-upload", bar);
  upload.type = "file";
  upload.accept = "image/*";
  upload.title = "your own photo — only of yourself, or of someone who agreed";
  const progress = element("progress", "fsth-live-progress", root);
  progress.max = 1;
  const status = element("div", "fsth-live-status", root);
  const error = element("div", "fsth-live-error", root);
  const screens = element("div", "fsth-live-screens", root);
  const video = element("video", "fsth-live-camera", screens);
  video.muted = true;
  video.playsInline = true;
  const output = element("img", "fsth-live-output", screens);
  output.alt = "the talking head (marked SYNTHETIC)";
  const stats = element("div", "fsth-live-stats", root, "stopped");
  element("div", "fsth-live-note", root,
    "Every frame says SYNTHETIC in its corner, and a recording is marked in its metadata too. " +
    "Drive only portraits you may use; upload only your own face, or one whose owner agreed.");
  const canvas = document.createElement("canvas");

  for (const name of model.get("methods")) element("option", "", method, name).value = name;
  function fillPortraits() {
    const names = [...model.get("portraits")];
    const current = model.get("portrait");
    if (!names.includes(current)) names.push(current); // an uploaded photo
    portrait.replaceChildren(...names.map((name) => {
      const option = element("option", "", null, name);
      option.value = name;
      return option;
    }));
    portrait.value = current;
  }
  function showState() {
    method.value = model.get("method");
    fillPortraits();
    const fraction = model.get("progress");
    progress.value = fraction;
    progress.style.visibility = fraction > 0 && fraction < 1 ? "visible" : "hidden";
    status.textContent = model.get("status");
    error.textContent = model.get("error");
    record.textContent = model.get("recording") ? "Stop recording" : "Record";
    record.classList.toggle("fsth-live-recording", model.get("recording"));
  }
  for (const name of ["method", "portrait", "progress", "status", "error", "recording", "record_path"]) {
    model.on(`change:${name}`, showState);
  }
  showState();

  method.addEventListener("change", () => { model.set("method", method.value); model.save_changes(); });
  portrait.addEventListener("change", () => { model.set("portrait", portrait.value); model.save_changes(); });
  record.addEventListener("click", () => { model.set("recording", !model.get("recording")); model.save_changes(); });
  upload.addEventListener("change", async () => {
    const file = upload.files && upload.files[0];
    if (!file) return;
    model.send({ type: "portrait", name: file.name }, undefined, [await file.arrayBuffer()]);
    upload.value = "";
  });

  // --- the loop ----------------------------------------------------------------------------------
  // At most MAX_IN_FLIGHT frames on their way to the kernel and back. While there is room, the next
  // frame is grabbed at once; when there isn't, it is grabbed so that it is ready about when an answer
  // comes (the median round trip less the median encoding time): the browser's JPEG encoding overlaps
  // the kernel's work instead of adding to it, and the frame sent is about as fresh as one grabbed when
  // the answer came. Never the same camera frame twice: a grab waits for the camera to present one not
  // grabbed yet.
  let stream = null, running = false, inFlight = 0, shown = null;
  const sentTimes = []; // when each frame in flight was sent, oldest first (answers come in order)
  let newFrames = 0, waiting = false; // camera frames presented since the last grab; a grab waiting for one
  let encoding = false, ready = null, timer = null; // a grab being encoded; an encoded frame not sent yet
  let run = 0; // bumped by Start and Stop: callbacks of an earlier run do nothing
  const arrivals = [], trips = [], kernel = [], captures = [];
  const figures = { frames: 0, fps: 0, roundTripMs: 0, kernelMs: 0, captureMs: 0, errors: 0 };
  root.fsthLive = figures; // read by the browser test and benchmarks/live_browser.py
  const hasFrameCallback = "requestVideoFrameCallback" in HTMLVideoElement.prototype;

  function onVideoFrame() {
    if (!running) return;
    newFrames += 1;
    if (waiting) { waiting = false; grab(); }
    video.requestVideoFrameCallback(onVideoFrame);
  }

  function grab() {
    clearTimeout(timer);
    timer = null;
    if (!running || encoding || ready) return;
    if (!video.videoWidth) { timer = setTimeout(grab, 20); return; }
    if (hasFrameCallback && newFrames === 0) { waiting = true; return; }
    newFrames = 0;
    encoding = true;
    const began = performance.now(), mine = run;
    const scale = Math.min(1, CAPTURE_WIDTH / video.videoWidth);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob(async (blob) => {
      const buffer = blob ? await blob.arrayBuffer() : null;
      if (mine !== run) return;
      encoding = false;
      if (!buffer) { timer = setTimeout(grab, 20); return; }
      remember(captures, performance.now() - began);
      ready = buffer;
      send();
    }, "image/jpeg", JPEG_QUALITY);
  }

  function send() {
    if (!running || inFlight >= MAX_IN_FLIGHT || !ready) return;
    const buffer = ready;
    ready = null;
    inFlight += 1;
    sentTimes.push(performance.now());
    model.send({ type: "frame" }, undefined, [buffer]);
    const full = inFlight >= MAX_IN_FLIGHT;
    const lead = full && trips.length ? Math.max(0, median(trips) / MAX_IN_FLIGHT - median(captures)) : 0;
    timer = setTimeout(grab, lead); // the next frame: now, or ready about when an answer comes
  }

  function answered() {
    inFlight = Math.max(0, inFlight - 1);
    sentTimes.shift();
    if (ready) send();
    else if (!encoding && !waiting) grab();
  }

  function remember(list, value) { list.push(value); if (list.length > WINDOW) list.shift(); }

  function showFigures(timings, face) {
    const seconds = arrivals.length > 1 ? (arrivals[arrivals.length - 1] - arrivals[0]) / 1000 : 0;
    figures.fps = seconds > 0 ? (arrivals.length - 1) / seconds : 0;
    figures.roundTripMs = median(trips);
    figures.kernelMs = median(kernel);
    figures.captureMs = median(captures);
    const parts = STAGES.map((s) => `${s} ${timings[s].toFixed(1)}`).join(" · ");
    stats.textContent = `${figures.fps.toFixed(1)} frames/s · round trip ${figures.roundTripMs.toFixed(0)} ms ` +
      `(kernel ${figures.kernelMs.toFixed(0)} ms: ${parts}) · ` +
      `camera frame to JPEG ${figures.captureMs.toFixed(0)} ms` + (face ? "" : " · no face in view");
  }

  model.on("msg:custom", (content, buffers) => {
    if (content.type === "error") {
      figures.errors += 1;
      error.textContent = content.message;
      if (content.about !== "frame") return; // an answer to an upload or a setting: the loop goes on as it was
    } else if (content.type === "frame" && buffers && buffers.length) {
      const now = performance.now();
      figures.frames += 1;
      remember(arrivals, now);
      remember(trips, now - sentTimes[0]);
      remember(kernel, content.timings.total);
      const url = URL.createObjectURL(new Blob([buffers[0]], { type: "image/jpeg" }));
      output.src = url;
      if (shown) URL.revokeObjectURL(shown);
      shown = url;
      showFigures(content.timings, content.face);
    } else {
      return;
    }
    answered();
  });

  async function startCamera() {
    if (running) return;
    error.textContent = "";
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      error.textContent = "this page has no camera access: open it on localhost or https";
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 } }, audio: false });
    } catch (err) {
      error.textContent = `the camera could not be opened: ${err.message || err.name}`;
      return;
    }
    video.srcObject = stream;
    await video.play();
    running = true;
    run += 1;
    newFrames = 1;
    arrivals.length = trips.length = kernel.length = captures.length = 0;
    if (hasFrameCallback) video.requestVideoFrameCallback(onVideoFrame);
    stats.textContent = "starting…";
    grab();
  }

  function stopCamera() {
    running = false;
    run += 1;
    clearTimeout(timer);
    waiting = encoding = false;
    inFlight = 0;
    sentTimes.length = 0;
    ready = null;
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    video.srcObject = null;
    stats.textContent = "stopped";
  }

  start.addEventListener("click", startCamera);
  stop.addEventListener("click", stopCamera);
  return () => { stopCamera(); if (shown) URL.revokeObjectURL(shown); };
}

export default { render };
