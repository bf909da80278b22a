// The page: files, drops and camera frames -> Detector -> boxes with P(fake) and the verdict.
// window.edgeDetect (ready, results, done) is what tests/test_web_demo.py and benchmarks/web.py read.
import { Detector } from "./detector.js";

const $ = (id) => document.getElementById(id);
const state = { results: [], done: 0, errors: 0, readyMs: null, firstVerdictMs: null };
window.edgeDetect = state;
const t0 = performance.now();
let queue = Promise.resolve();

const ready = Detector.create().then((d) => {
  state.readyMs = performance.now() - t0;
  state.modelBytes = d.modelBytes;
  const c = d.m.classifier;
  $("status").textContent = `Ready: ${c.url} (${c.variant}), threshold ${c.threshold.toFixed(3)}.`;
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) $("camera").hidden = false;
  return d;
}, (e) => {
  $("status").textContent = `Could not load the models: ${e.message || e}`;
  state.loadError = String(e.message || e);
  throw e;
});
state.ready = ready;

function draw(image, result, threshold) {
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  const line = Math.max(2, Math.round(Math.max(image.width, image.height) / 300));
  ctx.lineWidth = line;
  ctx.font = `${line * 7}px sans-serif`;
  for (const f of result.faces) {
    const colour = f.too_small ? "#888" : f.label === "fake" ? "#d00" : "#0a0";
    const [x0, y0, x1, y1] = f.box;
    ctx.strokeStyle = ctx.fillStyle = colour;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    const text = f.too_small ? "too small" : `${f.label} ${f.fake_probability.toFixed(3)}`;
    ctx.fillText(text, x0, Math.max(line * 7, y0 - line));
  }
  return canvas;
}

function show(result, image, threshold) {
  const div = document.createElement("div");
  div.className = "result";
  const judged = result.faces.filter((f) => !f.too_small);
  const head = document.createElement("div");
  if (!result.faces.length) head.textContent = `${result.name}: no face`;
  else {
    head.innerHTML = `${result.name}: ` + result.faces.map((f) => f.too_small
      ? '<span class="small">face too small to judge</span>'
      : `<span class="${f.label}">${f.label}</span> P(fake) ${f.fake_probability.toFixed(3)}`).join(", ");
  }
  head.title = `threshold ${threshold}; ${judged.length} face(s) judged in ${result.ms.toFixed(0)} ms`;
  div.append(head, draw(image, result, threshold));
  $("results").prepend(div);
}

async function judge(blob, name) {
  const detector = await ready;
  const file = blob.name ? blob : new File([blob], name);
  try {
    const result = await detector.detect(file);
    if (state.firstVerdictMs === null) state.firstVerdictMs = performance.now() - t0;
    state.results.push(result);
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    show(result, bitmap, detector.m.classifier.threshold);
  } catch (e) {
    state.errors++;
    state.results.push({ name: file.name, error: String(e.message || e) });
    const div = document.createElement("div");
    div.className = "result";
    div.textContent = `${file.name}: ${e.message || e}`;
    $("results").prepend(div);
  } finally {
    state.done++;
    $("status").textContent = `${state.done} photo(s) judged on this device.`;
  }
}

function enqueue(files) {
  for (const f of files) queue = queue.then(() => judge(f, f.name));
}

$("files").addEventListener("change", (e) => enqueue([...e.target.files]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  enqueue([...e.dataTransfer.files].filter((f) => f.type.startsWith("image/")));
});
$("camera").addEventListener("click", async () => {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    $("video").srcObject = stream;
    $("video").style.display = "block";
    $("snap").hidden = false;
  } catch (e) {
    $("status").textContent = `No camera: ${e.message || e}`;
  }
});
$("snap").addEventListener("click", () => {
  const v = $("video");
  const c = new OffscreenCanvas(v.videoWidth, v.videoHeight);
  c.getContext("2d").drawImage(v, 0, 0);
  c.convertToBlob({ type: "image/png" }).then((b) => enqueue([new File([b], `camera-${Date.now()}.png`)]));
});
