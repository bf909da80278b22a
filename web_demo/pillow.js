// The few Pillow operations edge_runtime uses on uint8 RGB images, re-implemented to give the
// same bytes: resize (bilinear, with box and reducing_gap), reduce (box average), crop and the
// QUAD transform (bilinear). Written from Pillow 13's behaviour (libImaging Resample.c,
// Reduce.c, Geometry.c and Image.py) and checked byte for byte against it by
// tests/test_web_demo.py (node, no browser). The browser's own canvas scaling is not used:
// it differs from Pillow's, and the int8 classifier moves with a few changed pixels.

/** An RGB image: width x height x 3 bytes, row-major. */
export class RGBImage {
  constructor(width, height, data) {
    this.width = width;
    this.height = height;
    this.data = data || new Uint8Array(width * height * 3);
  }
}

/** Python's round(): halves go to the even neighbour. */
export function pyRound(v) {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

const PRECISION_BITS = 22; // 32 - 8 - 2, as Pillow's 8-bit resampling

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1).
function coefficients(inSize, in0, in1, outSize) {
  in0 = Math.fround(in0);
  in1 = Math.fround(in1);
  const scale = Math.fround(in1 - in0) / outSize;
  const filterscale = scale < 1.0 ? 1.0 : scale;
  const support = 1.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const kk = new Int32Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    const ss = 1.0 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      w[x] = t < 1.0 ? 1.0 - t : 0.0;
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0.0 ? w[x] / ww : w[x];
      const scaled = k * (1 << PRECISION_BITS);
      kk[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + scaled) : Math.trunc(0.5 + scaled);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, kk, bounds };
}

function clip8(ss) {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

// Pillow's two-pass ImagingResampleInner for 8-bit RGB, bilinear, box = [x0, y0, x1, y1].
function resample(img, outW, outH, box) {
  const needH = outW !== img.width || box[0] !== 0 || box[2] !== outW;
  const needV = outH !== img.height || box[1] !== 0 || box[3] !== outH;
  const vert = coefficients(img.height, box[1], box[3], outH);
  const yFirst = vert.bounds[0];
  const yLast = vert.bounds[outH * 2 - 2] + vert.bounds[outH * 2 - 1];
  let src = img;
  const half = 1 << (PRECISION_BITS - 1);
  if (needH) {
    const hor = coefficients(img.width, box[0], box[2], outW);
    for (let i = 0; i < outH; i++) vert.bounds[i * 2] -= yFirst;
    const rows = yLast - yFirst;
    const out = new RGBImage(outW, rows);
    const { ksize, kk, bounds } = hor;
    for (let yy = 0; yy < rows; yy++) {
      const rowBase = (yy + yFirst) * img.width * 3;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[xx * 2];
        const xmax = bounds[xx * 2 + 1];
        let s0 = half, s1 = half, s2 = half;
        for (let x = 0; x < xmax; x++) {
          const k = kk[xx * ksize + x];
          const p = rowBase + (x + xmin) * 3;
          s0 += img.data[p] * k;
          s1 += img.data[p + 1] * k;
          s2 += img.data[p + 2] * k;
        }
        const o = (yy * outW + xx) * 3;
        out.data[o] = clip8(s0);
        out.data[o + 1] = clip8(s1);
        out.data[o + 2] = clip8(s2);
      }
    }
    src = out;
  }
  if (!needV) return src === img ? new RGBImage(img.width, img.height, img.data.slice()) : src;
  const out = new RGBImage(src.width, outH);
  const { ksize, kk, bounds } = vert;
  const rowLen = src.width * 3;
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2];
    const ymax = bounds[yy * 2 + 1];
    for (let i = 0; i < rowLen; i++) {
      let s = half;
      for (let y = 0; y < ymax; y++) s += src.data[(y + ymin) * rowLen + i] * kk[yy * ksize + y];
      out.data[yy * rowLen + i] = clip8(s);
    }
  }
  return out;
}

/** Image.reduce(factor, box): each output pixel is the rounded mean of its factor cell. */
export function reduce(img, fx, fy, box = [0, 0, img.width, img.height]) {
  const [bx0, by0, bx1, by1] = box;
  const bw = bx1 - bx0, bh = by1 - by0;
  const outW = Math.ceil(bw / fx), outH = Math.ceil(bh / fy);
  const out = new RGBImage(outW, outH);
  for (let y = 0; y < outH; y++) {
    const ya = by0 + y * fy, yb = Math.min(ya + fy, by0 + bh);
    for (let x = 0; x < outW; x++) {
      const xa = bx0 + x * fx, xb = Math.min(xa + fx, bx0 + bw);
      const n = (yb - ya) * (xb - xa);
      // Pillow: ((sum + n / 2) * multiplier) >> 24 in 32-bit unsigned arithmetic, with the
      // multiplier 2^32 / (256 n) computed in single precision.
      const mult = Math.trunc(Math.fround(4294967296 / Math.fround(256 * n)));
      const amend = Math.floor(n / 2);
      for (let c = 0; c < 3; c++) {
        let s = amend;
        for (let yy = ya; yy < yb; yy++) {
          for (let xx = xa; xx < xb; xx++) s += img.data[(yy * img.width + xx) * 3 + c];
        }
        out.data[(y * outW + x) * 3 + c] = (Math.imul(s, mult) >>> 0) >>> 24;
      }
    }
  }
  return out;
}

/** Image.resize((w, h), BILINEAR, box, reducing_gap). */
export function resize(img, outW, outH, box = null, reducingGap = null) {
  box = box || [0, 0, img.width, img.height];
  if (
    outW === img.width && outH === img.height &&
    box[0] === 0 && box[1] === 0 && box[2] === img.width && box[3] === img.height
  ) {
    return new RGBImage(img.width, img.height, img.data.slice());
  }
  if (reducingGap !== null) {
    const fx = Math.trunc((box[2] - box[0]) / outW / reducingGap) || 1;
    const fy = Math.trunc((box[3] - box[1]) / outH / reducingGap) || 1;
    if (fx > 1 || fy > 1) {
      // Image._get_safe_box: the cells the bilinear filter reaches (support 1 - 0.5).
      const sx = 0.5 * ((box[2] - box[0]) / outW);
      const sy = 0.5 * ((box[3] - box[1]) / outH);
      const rb = [
        Math.max(0, Math.trunc(box[0] - sx)),
        Math.max(0, Math.trunc(box[1] - sy)),
        Math.min(img.width, Math.ceil(box[2] + sx)),
        Math.min(img.height, Math.ceil(box[3] + sy)),
      ];
      img = reduce(img, fx, fy, rb);
      box = [(box[0] - rb[0]) / fx, (box[1] - rb[1]) / fy, (box[2] - rb[0]) / fx, (box[3] - rb[1]) / fy];
    }
  }
  return resample(img, outW, outH, box);
}

/** Image.crop((left, top, right, bottom)) inside the image. */
export function crop(img, left, top, right, bottom) {
  const w = right - left, h = bottom - top;
  const out = new RGBImage(w, h);
  for (let y = 0; y < h; y++) {
    const s = ((y + top) * img.width + left) * 3;
    out.data.set(img.data.subarray(s, s + w * 3), y * w * 3);
  }
  return out;
}

/** Image.transform((size, size), QUAD, corners NW SW SE NE as 8 numbers, BILINEAR). */
export function quadTransform(img, size, q) {
  const As = 1.0 / size, At = 1.0 / size;
  const [x0, y0] = q;
  const a = [
    x0, (q[6] - x0) * As, (q[2] - x0) * At, (q[4] - q[2] - q[6] + x0) * As * At,
    y0, (q[7] - y0) * As, (q[3] - y0) * At, (q[5] - q[3] - q[7] + y0) * As * At,
  ];
  const out = new RGBImage(size, size);
  const { width: w, height: h, data } = img;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const xi = x + 0.5, yi = y + 0.5;
      let xs = a[0] + a[1] * xi + a[2] * yi + a[3] * xi * yi;
      let ys = a[4] + a[5] * xi + a[6] * yi + a[7] * xi * yi;
      const o = (y * size + x) * 3;
      if (xs < 0.0 || xs >= w || ys < 0.0 || ys >= h) continue; // filled with 0, as Pillow
      xs -= 0.5;
      ys -= 0.5;
      const ix = Math.floor(xs), iy = Math.floor(ys);
      const dx = xs - ix, dy = ys - iy;
      const r0 = Math.min(Math.max(iy, 0), h - 1) * w;
      const c0 = Math.min(Math.max(ix, 0), w - 1) * 3;
      const c1 = Math.min(Math.max(ix + 1, 0), w - 1) * 3;
      const hasNext = iy + 1 >= 0 && iy + 1 < h;
      for (let b = 0; b < 3; b++) {
        const p0 = data[r0 * 3 + c0 + b], p1 = data[r0 * 3 + c1 + b];
        let v1 = p0 + (p1 - p0) * dx;
        let v2 = v1;
        if (hasNext) {
          const r1 = (iy + 1) * w * 3;
          const q0 = data[r1 + c0 + b], q1 = data[r1 + c1 + b];
          v2 = q0 + (q1 - q0) * dx;
        }
        v1 = v1 + (v2 - v1) * dy;
        out.data[o + b] = Math.trunc(v1);
      }
    }
  }
  return out;
}

/** numpy.pad(mode="reflect") of an RGB image by (left, top, right, bottom), each < side. */
export function reflectPad(img, left, top, right, bottom) {
  const w = img.width + left + right, h = img.height + top + bottom;
  const out = new RGBImage(w, h);
  const reflect = (i, n) => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  for (let y = 0; y < h; y++) {
    const sy = reflect(y - top, img.height);
    for (let x = 0; x < w; x++) {
      const sx = reflect(x - left, img.width);
      const s = (sy * img.width + sx) * 3, o = (y * w + x) * 3;
      out.data[o] = img.data[s];
      out.data[o + 1] = img.data[s + 1];
      out.data[o + 2] = img.data[s + 2];
    }
  }
  return out;
}

/** numpy.pad(mode="edge"). */
export function edgePad(img, left, top, right, bottom) {
  const w = img.width + left + right, h = img.height + top + bottom;
  const out = new RGBImage(w, h);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(Math.max(y - top, 0), img.height - 1);
    for (let x = 0; x < w; x++) {
      const sx = Math.min(Math.max(x - left, 0), img.width - 1);
      const s = (sy * img.width + sx) * 3, o = (y * w + x) * 3;
      out.data[o] = img.data[s];
      out.data[o + 1] = img.data[s + 1];
      out.data[o + 2] = img.data[s + 2];
    }
  }
  return out;
}
