// The detector in the page: decode a photo, find and align every face (faces.js), classify each
// with the shipped model's client-input asset on LiteRT.js (WebAssembly, CPU), all on the device.
// What runs is named by manifest.json (`python -m web_demo` writes it from the model registry).
import { loadLiteRt, loadAndCompile, Tensor } from "@litertjs/core";
import * as P from "./pillow.js";
import * as F from "./faces.js";

const JPEG_MAGIC = [0xff, 0xd8, 0xff];

export class Detector {
  static async create(base = "./") {
    const manifest = await (await fetch(new URL("manifest.json", new URL(base, location.href)))).json();
    await loadLiteRt(new URL("node_modules/@litertjs/core/wasm/", new URL(base, location.href)).href);
    const load = async (m) => {
      const bytes = new Uint8Array(await (await fetch(m.url)).arrayBuffer());
      return { model: await loadAndCompile(bytes, { accelerator: "wasm" }), bytes: bytes.length };
    };
    const [faceModel, classifier] = await Promise.all([load(manifest.face_detector), load(manifest.classifier)]);
    return new Detector(manifest, faceModel.model, classifier.model, faceModel.bytes + classifier.bytes);
  }

  constructor(manifest, faceModel, classifier, modelBytes) {
    this.m = manifest;
    this.faceModel = faceModel;
    this.classifier = classifier;
    this.modelBytes = modelBytes;
    this.anchors = F.anchorCentres(manifest.face_detector);
  }

  async run(model, typed, shape) {
    const input = new Tensor(typed, shape);
    const outputs = await model.run(input);
    input.delete();
    const arrays = [];
    for (const t of outputs) {
      const cpu = t.accelerator === "wasm" ? t : await t.moveTo("wasm");
      arrays.push({ shape: cpu.type.layout.dimensions, data: cpu.toTypedArray().slice() });
      cpu.delete();
      if (cpu !== t && !t.deleted) t.delete();
    }
    return arrays;
  }

  // One 128x128 window -> raw regressors and scores (told apart by their last dimension).
  async runFaceModel(pixels) {
    const det = this.m.face_detector;
    const n = det.input_size;
    const x = new Float32Array(n * n * 3);
    const k = Math.fround(1 / 127.5);
    for (let i = 0; i < x.length; i++) x[i] = Math.fround(Math.fround(pixels.data[i] * k) - 1);
    const outs = await this.run(this.faceModel, x, [1, n, n, 3]);
    const last = (o) => o.shape[o.shape.length - 1];
    return {
      boxes: outs.find((o) => last(o) === 4 + 2 * det.num_keypoints).data,
      scores: outs.find((o) => last(o) === 1).data,
    };
  }

  // The runtime's network pixels (source bundle's spec) placed where the asset's in-graph crop
  // takes them: the asset then sees exactly what the runtime's bundle sees.
  async classifyPixels(pixels) {
    const c = this.m.classifier;
    const { offset, size } = c.client_crop;
    if (pixels.width !== size || pixels.height !== size) throw new Error("unexpected crop size");
    const side = c.input_size;
    const input = new Uint8Array(side * side * 3);
    for (let y = 0; y < size; y++) {
      input.set(pixels.data.subarray(y * size * 3, (y + 1) * size * 3), ((y + offset) * side + offset) * 3);
    }
    const [probs] = await this.run(this.classifier, input, [1, side, side, 3]);
    return probs.data[c.labels.indexOf("fake")];
  }

  /** A File/Blob -> {name, width, height, faces: [{box, score, fake_probability, label, too_small}]} */
  async detect(file) {
    const t0 = performance.now();
    const full = await decodeImage(file, this.m.decode.min_side);
    const isJpeg = await hasMagic(file, JPEG_MAGIC);
    const stage = this.m.face_stage, al = this.m.alignment, c = this.m.classifier;
    let { img, scale } = draft(full, isJpeg, stage.find_decode_short_side);
    const found = await F.findFaces(img, this.m.face_detector, stage, al, this.anchors,
      (px) => this.runFaceModel(px), stage.min_score);
    const quads = found.map((f) => {
      try {
        return F.ffhqQuad(f.kps[this.m.face_detector.keypoints.right_eye],
          f.kps[this.m.face_detector.keypoints.left_eye], f.kps[this.m.face_detector.keypoints.mouth], al);
      } catch {
        return null;
      }
    });
    const sides = quads.map((q) => (q ? F.quadSide(q) : 0));
    const usable = sides.map((s) => s * scale >= stage.min_crop_px);
    const need = Math.max(1, ...sides.filter((s, i) => usable[i]).map((s) => c.source_preprocess.height / s));
    let factor = 1;
    if (need > 1 && scale > 1) {
      const bigger = draft(full, isJpeg, Math.ceil(Math.min(img.width, img.height) * Math.min(need, scale)));
      factor = scale / bigger.scale;
      ({ img, scale } = bigger);
    }
    const faces = [];
    for (let i = 0; i < found.length; i++) {
      const f = found[i];
      const q = quads[i] && quads[i].map(([x, y]) => [x * factor, y * factor]);
      const face = {
        box: f.box.map((v) => P.pyRound(v * factor * scale)),
        score: Math.round(f.score * 1e4) / 1e4,
        crop_px: P.pyRound(sides[i] * factor * scale),
        too_small: !usable[i],
        fake_probability: null,
        label: null,
      };
      if (usable[i]) {
        const crop = F.isAlreadyAligned(q, img.width, img.height, al) ? img : F.alignedCrop(img, q, al.aligned_size);
        const p = await this.classifyPixels(F.specPixels(crop, c.source_preprocess));
        face.fake_probability = p;
        face.label = p >= c.threshold ? "fake" : "real";
      }
      faces.push(face);
    }
    return { name: file.name, width: full.width, height: full.height, faces, ms: performance.now() - t0 };
  }
}

async function hasMagic(file, magic) {
  const head = new Uint8Array(await file.slice(0, magic.length).arrayBuffer());
  return magic.every((b, i) => head[i] === b);
}

/** Decode upright (EXIF), no colour management, transparent pixels onto white (preprocess). */
export async function decodeImage(blob, minSide) {
  const bitmap = await createImageBitmap(blob, {
    imageOrientation: "from-image",
    colorSpaceConversion: "none",
    premultiplyAlpha: "none",
  });
  const { width, height } = bitmap;
  if (Math.min(width, height) < minSide) {
    throw new Error(`image is ${width}x${height} pixels, too small to hold a face (min ${minSide})`);
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const img = new P.RGBImage(width, height);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    const a = rgba[i + 3];
    for (let c = 0; c < 3; c++) {
      img.data[j + c] = a === 255 ? rgba[i + c] : Math.round((rgba[i + c] * a + 255 * (255 - a)) / 255);
    }
  }
  return img;
}

// JPEG draft decoding (libjpeg's 1/2, 1/4, 1/8 DCT scaling in the runtime) has no browser
// equivalent: the full decode is box-reduced by the same factor instead (an approximation, used
// only for JPEGs whose shorter side is at least twice `shortSide`).
function draft(full, isJpeg, shortSide) {
  if (!isJpeg) return { img: full, scale: 1 };
  const ratio = Math.min(Math.floor(full.width / shortSide), Math.floor(full.height / shortSide));
  const fact = [8, 4, 2, 1].find((f) => ratio >= f) || 1;
  if (fact === 1) return { img: full, scale: 1 };
  const img = P.reduce(full, fact, fact);
  return { img, scale: Math.sqrt((full.width * full.height) / (img.width * img.height)) };
}
