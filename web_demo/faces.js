// The face stage of edge_runtime/faces.py, face_windows.py and the alignment of
// edge_runtime/align.py, step for step, in the page: BlazeFace short range on the whole photo
// (with a border) and on overlapping tiles, the edge search (those images mirrored outward, for
// faces cut by the frame), SSD decoding, MediaPipe's weighted NMS, the second look that verifies
// every detection, FFHQ's crop square, the aligned 256x256 crop and the classifier's own crop. Every number comes from manifest.json, which
// `python -m web_demo` writes from the Python definitions: nothing here is re-typed.
import * as P from "./pillow.js";

const { RGBImage } = P;

const f32 = Math.fround;

/** Anchor centres (x, y) in [0, 1], the model's output order (faces.ssd_anchor_centres). */
export function anchorCentres(det) {
  const perLayer = 1 + (det.interpolated_scale_aspect_ratio > 0 ? 1 : 0);
  const out = [];
  let i = 0;
  while (i < det.strides.length) {
    const stride = det.strides[i];
    let n = 0;
    while (i < det.strides.length && det.strides[i] === stride) {
      n += perLayer;
      i++;
    }
    const side = Math.ceil(det.input_size / stride);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        for (let k = 0; k < n; k++) out.push([f32((x + 0.5) / side), f32((y + 0.5) / side)]);
      }
    }
  }
  return out;
}

// faces.decode: raw outputs of one window -> boxes / keypoints in window fractions (float32
// arithmetic, as numpy does it there), scores in float64.
function decode(rawBoxes, rawScores, anchors, det, minScore) {
  const width = 4 + 2 * det.num_keypoints;
  const found = [];
  for (let i = 0; i < anchors.length; i++) {
    const logit = Math.min(Math.max(rawScores[i], -100), 100);
    const score = 1 / (1 + Math.exp(-logit));
    if (!(score >= minScore)) continue;
    const r = (j) => f32(rawBoxes[i * width + j] / det.input_size);
    const [ax, ay] = anchors[i];
    const cx = f32(r(0) + ax), cy = f32(r(1) + ay);
    const hw = f32(r(2) / 2), hh = f32(r(3) / 2);
    const box = [f32(cx - hw), f32(cy - hh), f32(cx + hw), f32(cy + hh)];
    const kps = [];
    for (let k = 0; k < det.num_keypoints; k++) {
      kps.push([f32(r(4 + 2 * k) + ax), f32(r(5 + 2 * k) + ay)]);
    }
    found.push({ box, kps, score });
  }
  return found;
}

function iou(a, b) {
  const iw = Math.max(Math.min(a[2], b[2]) - Math.max(a[0], b[0]), 0);
  const ih = Math.max(Math.min(a[3], b[3]) - Math.max(a[1], b[1]), 0);
  const inter = iw * ih;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

function byScore(list) {
  return list.map((d, i) => [d, i]).sort((p, q) => q[0].score - p[0].score || p[1] - q[1]).map((p) => p[0]);
}

// faces.weighted_nms: each best remaining detection absorbs those overlapping it.
function weightedNms(dets, iouThreshold) {
  let remaining = byScore(dets);
  const out = [];
  while (remaining.length) {
    const top = remaining[0];
    const group = [], rest = [];
    remaining.forEach((d, i) => (i === 0 || iou(top.box, d.box) > iouThreshold ? group : rest).push(d));
    let wsum = 0;
    for (const d of group) wsum += d.score;
    const box = [0, 0, 0, 0];
    const kps = top.kps.map(() => [0, 0]);
    for (let j = 0; j < 4; j++) {
      let s = 0;
      for (const d of group) s += d.box[j] * d.score;
      box[j] = s / wsum;
    }
    kps.forEach((kp, k) => {
      for (let j = 0; j < 2; j++) {
        let s = 0;
        for (const d of group) s += d.kps[k][j] * d.score;
        kp[j] = s / wsum;
      }
    });
    out.push({ box, kps, score: f32(top.score) });
    remaining = rest;
  }
  return out;
}

// faces.drop_contained: a box mostly inside a better one is a part of the same face.
function dropContained(dets, fraction) {
  const kept = [];
  for (const d of byScore(dets)) {
    const b = d.box;
    const area = Math.max((b[2] - b[0]) * (b[3] - b[1]), 1e-12);
    const inside = kept.some((k) => {
      const iw = Math.min(b[2], k.box[2]) - Math.max(b[0], k.box[0]);
      const ih = Math.min(b[3], k.box[3]) - Math.max(b[1], k.box[1]);
      return iw > 0 && ih > 0 && (iw * ih) / area >= fraction;
    });
    if (!inside) kept.push(d);
  }
  return kept;
}

/** faces.tile_sizes */
export function tileSizes(w, h, stage) {
  const long = Math.max(w, h);
  const finest = Math.max(long * stage.find_min_tile_fraction, stage.find_min_tile_px);
  const sizes = [];
  let t = long;
  for (;;) {
    const next = Math.max(t / 2, finest);
    if (next >= t * 0.83) break;
    sizes.push(next);
    t = next;
  }
  return sizes;
}

function starts(length, tile, step) {
  if (length <= tile) return [0];
  const n = Math.ceil((length - tile) / (tile * step)) + 1;
  const delta = length - tile, s = delta / (n - 1);
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? delta : i * s)); // numpy.linspace
}

/** face_windows.search_windows: [{x0, y0, scale, inner, pixels (n x n RGBImage)}]; levels (a
 * Map) gets each level's resized image ("whole": the whole look's; else the tile side's). */
export function windows(img, det, stage, levels = null) {
  const n = det.input_size;
  const { width: w, height: h } = img;
  const out = [];
  const canvas = Math.max(w, h) * (1 + 2 * stage.whole_image_border);
  let s = n / canvas;
  const small = P.resize(img, Math.max(1, P.pyRound(w * s)), Math.max(1, P.pyRound(h * s)));
  const ox = Math.floor((n - small.width) / 2), oy = Math.floor((n - small.height) / 2);
  const whole = new P.RGBImage(n, n);
  for (let y = 0; y < small.height; y++) {
    whole.data.set(small.data.subarray(y * small.width * 3, (y + 1) * small.width * 3), ((y + oy) * n + ox) * 3);
  }
  const sx = small.width / w, sy = small.height / h;
  if (levels) levels.set("whole", small);
  out.push({ x0: -ox / sx, y0: -oy / sy, scale: sx, inner: [false, false, false, false], pixels: whole });
  for (const tile of tileSizes(w, h, stage)) {
    s = n / tile;
    const lw = Math.max(1, P.pyRound(w * s)), lh = Math.max(1, P.pyRound(h * s));
    const level = P.resize(img, lw, lh, null, stage.tile_reducing_gap);
    if (levels) levels.set(tile, level);
    for (const ty of starts(lh, n, stage.tile_step)) {
      for (const tx of starts(lw, n, stage.tile_step)) {
        const x0 = P.pyRound(tx), y0 = P.pyRound(ty);
        const part = new P.RGBImage(n, n);
        const pw = Math.min(n, lw - x0), ph = Math.min(n, lh - y0);
        for (let y = 0; y < ph; y++) {
          const src = ((y0 + y) * lw + x0) * 3;
          part.data.set(level.data.subarray(src, src + pw * 3), y * n * 3);
        }
        const inner = [x0 > 0, y0 > 0, x0 + n < lw, y0 + n < lh];
        out.push({ x0: x0 / (lw / w), y0: y0 / (lh / h), scale: lw / w, inner, pixels: part });
      }
    }
  }
  return out;
}

// FaceFinder._detect: every window's detections in image pixels, those cut by a tile's inner
// edge dropped (the tiles overlap, so such a face is whole in another).
async function detectWindows(wins, det, stage, anchors, runDetector, minScore) {
  const n = det.input_size;
  const margin = stage.tile_edge_margin;
  const all = [];
  for (const win of wins) {
    const raw = await runDetector(win.pixels);
    const f = f32(n / win.scale);
    for (const d of decode(raw.boxes, raw.scores, anchors, det, minScore)) {
      const [l, t, r, b] = win.inner;
      const cut = (l && d.box[0] < margin) || (t && d.box[1] < margin) ||
        (r && d.box[2] > 1 - margin) || (b && d.box[3] > 1 - margin);
      if (cut) continue;
      const o = [win.x0, win.y0, win.x0, win.y0];
      all.push({
        box: d.box.map((v, j) => f32(v * f) + o[j]),
        kps: d.kps.map(([x, y]) => [f32(x * f) + win.x0, f32(y * f) + win.y0]),
        score: d.score,
      });
    }
  }
  return all;
}

// FaceFinder._merge: weighted NMS, then parts of a face (inside a better box) dropped.
const merge = (all, det, stage) =>
  all.length ? dropContained(weightedNms(all, det.nms_iou), stage.contained_fraction) : [];

/** FaceFinder.find: runDetector(RGBImage n x n) -> {boxes, scores} raw arrays (async). Every
 * face after the second look, best score first; faces found by the edge search have edge: true. */
export async function findFaces(img, det, stage, al, anchors, runDetector, minScore) {
  const levels = new Map();
  let merged = merge(await detectWindows(windows(img, det, stage, levels), det, stage, anchors,
    runDetector, minScore), det, stage);
  const foundHere = merged.length;
  if (Math.max(img.width, img.height) >= stage.edge_min_photo_side) {
    const edge = merge(await detectWindows(edgeWindows(img.width, img.height, levels, det, stage),
      det, stage, anchors, runDetector, minScore), det, stage);
    merged = merged.concat(edgeFaces(img.width, img.height, merged, edge, stage));
  }
  const faces = [];
  for (let i = 0; i < merged.length; i++) {
    const d = merged[i];
    const box = [Math.max(d.box[0], 0), Math.max(d.box[1], 0), Math.min(d.box[2], img.width), Math.min(d.box[3], img.height)];
    if (box[2] <= box[0] || box[3] <= box[1]) continue;
    const face = { box, score: d.score, kps: d.kps, edge: i >= foundHere };
    if ((await secondLook(img, face, det, stage, al, anchors, runDetector)) >= stage.verify_min_score) {
      faces.push(face);
    }
  }
  return faces;
}

// face_windows.edge_windows + FaceFinder._edge_search's centre rule + _edge_faces: the edge
// search's detections that are cut by the frame, centred about inside it and overlap no face.
function edgeFaces(w, h, found, edge, stage) {
  const slack = stage.edge_centre_slack;
  return edge.filter(({ box: b }) => {
    const cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2;
    const sx = (b[2] - b[0]) * slack, sy = (b[3] - b[1]) * slack;
    if (!(cx >= -sx && cx <= w + sx && cy >= -sy && cy <= h + sy)) return false;
    const area = (b[2] - b[0]) * (b[3] - b[1]);
    const iw = Math.max(Math.min(b[2], w) - Math.max(b[0], 0), 0);
    const ih = Math.max(Math.min(b[3], h) - Math.max(b[1], 0), 0);
    if (!(iw * ih < (1 - stage.edge_min_outside) * area)) return false; // face_windows.cut_by_frame
    return found.every((f) => iou(f.box, b) <= 0);
  });
}

// numpy.pad(mode="symmetric") by q on every side (the edge pixel repeated, then mirrored).
function symmetricPad(img, q) {
  const w = img.width + 2 * q, h = img.height + 2 * q;
  const out = new RGBImage(w, h);
  const at = (i, len) => {
    const m = ((i % (2 * len)) + 2 * len) % (2 * len);
    return m < len ? m : 2 * len - 1 - m;
  };
  for (let y = 0; y < h; y++) {
    const sy = at(y - q, img.height);
    for (let x = 0; x < w; x++) {
      const s = (sy * img.width + at(x - q, img.width)) * 3, o = (y * w + x) * 3;
      out.data[o] = img.data[s];
      out.data[o + 1] = img.data[s + 1];
      out.data[o + 2] = img.data[s + 2];
    }
  }
  return out;
}

// An n x n input with img's top-left w x h pixels (clipped) at (ox, oy), black elsewhere.
function place(n, img, sx0, sy0, ox, oy) {
  const inp = new RGBImage(n, n);
  const pw = Math.min(n - ox, img.width - sx0), ph = Math.min(n - oy, img.height - sy0);
  for (let y = 0; y < ph; y++) {
    const src = ((sy0 + y) * img.width + sx0) * 3;
    inp.data.set(img.data.subarray(src, src + pw * 3), ((oy + y) * n + ox) * 3);
  }
  return inp;
}

/** face_windows.edge_windows: the whole look and the tile levels of at least edge_min_window of
 * the longer side (the ordinary search's own images) mirrored outward; the windows reaching out. */
export function edgeWindows(w, h, levels, det, stage) {
  const n = det.input_size;
  const pad = stage.edge_pad * Math.max(w, h);
  const small = levels.get("whole");
  const sx = small.width / w;
  let q = Math.max(1, P.pyRound(pad * sx));
  const ext = symmetricPad(small, q);
  const ew0 = Math.min(ext.width, n), eh0 = Math.min(ext.height, n);
  const ox = Math.floor((n - ew0) / 2), oy = Math.floor((n - eh0) / 2);
  const none = [false, false, false, false];
  const out = [{ x0: -(ox + q) / sx, y0: -(oy + q) / sx, scale: sx, inner: none, pixels: place(n, ext, 0, 0, ox, oy) }];
  for (const [tile, level] of levels) {
    if (tile === "whole" || tile < stage.edge_min_window * Math.max(w, h)) continue;
    const { width: lw, height: lh } = level;
    q = Math.max(1, P.pyRound((pad * lw) / w));
    const e = symmetricPad(level, q);
    for (const ty of starts(e.height, n, stage.tile_step)) {
      for (const tx of starts(e.width, n, stage.tile_step)) {
        const x0 = P.pyRound(tx), y0 = P.pyRound(ty);
        if (q <= x0 && x0 + n <= lw + q && q <= y0 && y0 + n <= lh + q) continue; // seen already
        const inner = [x0 > 0, y0 > 0, x0 + n < e.width, y0 + n < e.height];
        out.push({ x0: (x0 - q) / (lw / w), y0: (y0 - q) / (lh / h), scale: lw / w, inner, pixels: place(n, e, x0, y0, 0, 0) });
      }
    }
  }
  return out;
}

/** FaceFinder.second_look: the mean of a face's score and the detector's scores on its aligned
 * n x n square and that square's mirror image (a look counts only a detection where alignment
 * put the face box and the mouth); a clear face skips the mirror look. */
export async function secondLook(img, face, det, stage, al, anchors, runDetector) {
  const k = det.keypoints;
  let q;
  try {
    q = ffhqQuad(face.kps[k.right_eye], face.kps[k.left_eye], face.kps[k.mouth], al);
  } catch {
    return 0; // eyes and mouth coincide: no face geometry
  }
  const look = alignedCrop(img, q, det.input_size, face.edge);
  const mouth = pointsInSquare(q, face.kps[k.mouth]);
  const [x0, y0, x1, y1] = stage.aligned_face_box;
  const scores = [face.score];
  const mean = () => scores.reduce((a, b) => a + b, 0) / scores.length;
  const looks = [
    [look, [x0, y0, x1, y1], mouth],
    [flipX(look), [1 - x1, y0, 1 - x0, y1], [1 - mouth[0], mouth[1]]],
  ];
  for (const [pixels, box, point] of looks) {
    const raw = await runDetector(pixels);
    const found = weightedNms(decode(raw.boxes, raw.scores, anchors, det, det.min_score), det.nms_iou);
    let best = 0;
    for (const d of found) {
      const m = d.kps[k.mouth];
      const mouthOff = Math.max(Math.abs(m[0] - point[0]), Math.abs(m[1] - point[1]));
      if (iou(box, d.box) >= stage.verify_box_iou && mouthOff <= stage.verify_mouth_error) {
        best = Math.max(best, d.score);
      }
    }
    scores.push(best);
    if (scores.length === 2 && mean() >= stage.verify_early_accept) return mean();
  }
  return mean();
}

function flipX(img) {
  const out = new RGBImage(img.width, img.height);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const s = (y * img.width + x) * 3, o = (y * img.width + img.width - 1 - x) * 3;
      out.data.set(img.data.subarray(s, s + 3), o);
    }
  }
  return out;
}

/** align.points_in_square: an image point -> its place in the square q, as fractions of it. */
export function pointsInSquare(q, [px, py]) {
  const ux = q[3][0] - q[0][0], uy = q[3][1] - q[0][1];
  const vx = q[1][0] - q[0][0], vy = q[1][1] - q[0][1];
  const dx = px - q[0][0], dy = py - q[0][1];
  const d = ux * vy - vx * uy;
  return [(dx * vy - vx * dy) / d, (ux * dy - dx * uy) / d];
}

/** align.ffhq_quad: corners (top-left, bottom-left, bottom-right, top-right). */
export function ffhqQuad(eyeR, eyeL, mouth, al) {
  const eyeAvg = [(eyeR[0] + eyeL[0]) * 0.5, (eyeR[1] + eyeL[1]) * 0.5];
  const e2e = [eyeL[0] - eyeR[0], eyeL[1] - eyeR[1]];
  const e2m = [mouth[0] - eyeAvg[0], mouth[1] - eyeAvg[1]];
  let x = [e2e[0] - e2m[1] * -1.0, e2e[1] - e2m[0] * 1.0];
  const norm = Math.hypot(x[0], x[1]);
  if (norm === 0) throw new Error("degenerate face points (eyes and mouth coincide)");
  x = [x[0] / norm, x[1] / norm];
  const size = Math.max(Math.hypot(e2e[0], e2e[1]) * al.eye_span_scale, Math.hypot(e2m[0], e2m[1]) * al.mouth_span_scale);
  x = [x[0] * size, x[1] * size];
  const y = [x[1] * -1.0, x[0] * 1.0];
  const c = [eyeAvg[0] + e2m[0] * al.centre_shift, eyeAvg[1] + e2m[1] * al.centre_shift];
  return [
    [c[0] - x[0] - y[0], c[1] - x[1] - y[1]],
    [c[0] - x[0] + y[0], c[1] - x[1] + y[1]],
    [c[0] + x[0] + y[0], c[1] + x[1] + y[1]],
    [c[0] + x[0] - y[0], c[1] + x[1] - y[1]],
  ];
}

export const quadSide = (q) => Math.hypot(q[3][0] - q[0][0], q[3][1] - q[0][1]);

/** align.is_already_aligned */
export function isAlreadyAligned(q, w, h, al) {
  const xs = q.map((p) => p[0]), ys = q.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const iw = Math.min(x1, w) - Math.max(x0, 0), ih = Math.min(y1, h) - Math.max(y0, 0);
  if (iw <= 0 || ih <= 0) return false;
  const inter = iw * ih;
  const iouV = inter / ((x1 - x0) * (y1 - y0) + w * h - inter);
  const angle = (Math.atan2(q[3][1] - q[0][1], q[3][0] - q[0][0]) * 180) / Math.PI;
  return iouV >= al.already_aligned_iou && Math.abs(angle) <= al.already_aligned_degrees;
}

/** align.aligned_crop: the square q cut out of img, size x size, mirrored at the photo's edges
 * (black there with mirror false: the second look). */
export function alignedCrop(img, q, size, mirror = true) {
  const side = quadSide(q);
  const { width: w, height: h } = img;
  const xs = q.map((p) => p[0]), ys = q.map((p) => p[1]);
  const x0 = Math.floor(Math.min(...xs)) - 1, y0 = Math.floor(Math.min(...ys)) - 1;
  const x1 = Math.ceil(Math.max(...xs)) + 1, y1 = Math.ceil(Math.max(...ys)) + 1;
  const rx0 = Math.max(x0, 0), ry0 = Math.max(y0, 0), rx1 = Math.min(x1, w), ry1 = Math.min(y1, h);
  if (rx1 <= rx0 || ry1 <= ry0) throw new Error("face square lies outside the image");
  let region = P.crop(img, rx0, ry0, rx1, ry1);
  let local = q.map(([x, y]) => [x - rx0, y - ry0]);
  let pad = [rx0 - x0, ry0 - y0, x1 - rx1, y1 - ry1];
  const shrink = Math.floor((side / size) * 0.5);
  if (shrink > 1) {
    region = P.reduce(region, shrink, shrink);
    local = local.map(([x, y]) => [x / shrink, y / shrink]);
    pad = pad.map((p) => Math.ceil(p / shrink));
  }
  if (pad.some((p) => p) && mirror) {
    local = local.map(([x, y]) => [x + pad[0], y + pad[1]]);
    region = mirrorPad(region, pad);
  }
  return P.quadTransform(region, size, local.flatMap(([x, y]) => [x + 0.5, y + 0.5]));
}

// align._mirror_pad: reflect as far as the picture allows, again and again, then repeat the edge.
function mirrorPad(img, pad) {
  let [left, top, right, bottom] = pad;
  while (left || top || right || bottom) {
    const sl = Math.min(left, img.width - 1), sr = Math.min(right, img.width - 1);
    const st = Math.min(top, img.height - 1), sb = Math.min(bottom, img.height - 1);
    if (!(sl || sr || st || sb)) return P.edgePad(img, left, top, right, bottom);
    img = P.reflectPad(img, sl, st, sr, sb);
    left -= sl; top -= st; right -= sr; bottom -= sb;
  }
  return img;
}

/** preprocess.resize for a PreprocessSpec (centre crop, bilinear): the network's pixels. */
export function specPixels(img, spec) {
  if (spec.crop === "center") {
    const side = Math.max(1, P.pyRound(Math.min(img.width, img.height) * spec.crop_fraction));
    const left = Math.floor((img.width - side) / 2), top = Math.floor((img.height - side) / 2);
    img = P.crop(img, left, top, left + side, top + side);
  }
  return P.resize(img, spec.width, spec.height);
}
