package org.edgedetect.demo

import java.nio.ByteBuffer
import java.nio.ByteOrder

// The sample's preprocessing math, in plain Kotlin (no Android types), so that it can be compiled
// and run on a desktop JVM against the Python runtime on the same pixels
// (tests/test_kotlin_preprocessing.py). It follows edge_runtime/preprocess.py step by step:
// square centre crop -> Pillow's bilinear resize -> (pixel - mean) / std -> the input tensor's
// type (quantised as edge_runtime.detector.quantize does). Written for Kotlin 1.3 and later.

/** What reaches the network: edge_runtime's PreprocessSpec, read from the model's bundle.json. */
data class PreprocessSpec(
    val height: Int,
    val width: Int,
    val resize: String,
    val crop: String,
    val cropFraction: Double,
    val mean: Float,
    val std: Float
)

enum class TensorType { FLOAT32, UINT8, INT8 }

/** The model's input tensor: its type and, for integer types, its scale and zero point. */
data class InputTensorSpec(val type: TensorType, val scale: Float, val zeroPoint: Int)

/** RGB pixels, row-major, three values 0..255 per pixel. */
class RgbImage(val width: Int, val height: Int, val rgb: IntArray) {
    init {
        require(rgb.size == width * height * 3) { "expected ${width * height * 3} values, got ${rgb.size}" }
    }
}

object Preprocessing {
    // Pillow's fixed-point precision for 8-bit resampling (libImaging/Resample.c).
    private const val PRECISION_BITS = 32 - 8 - 2

    /** ARGB ints (Android's Bitmap.getPixels) -> RGB; alpha is dropped. */
    fun fromArgb(argb: IntArray, width: Int, height: Int): RgbImage {
        val rgb = IntArray(width * height * 3)
        for (i in 0 until width * height) {
            val p = argb[i]
            rgb[3 * i] = (p shr 16) and 0xFF
            rgb[3 * i + 1] = (p shr 8) and 0xFF
            rgb[3 * i + 2] = p and 0xFF
        }
        return RgbImage(width, height, rgb)
    }

    /** The full step: pixels -> the model's input tensor, as edge_runtime feeds it. */
    fun preprocess(argb: IntArray, width: Int, height: Int, spec: PreprocessSpec, input: InputTensorSpec): ByteBuffer =
        inputTensor(cropAndResize(fromArgb(argb, width, height), spec), spec, input)

    /** preprocess.resize: the centred square (if asked), then the resize to the input size. */
    fun cropAndResize(image: RgbImage, spec: PreprocessSpec): RgbImage {
        val cropped = when (spec.crop) {
            "center" -> centerCrop(image, spec.cropFraction)
            "none" -> image
            else -> throw IllegalArgumentException("unknown crop '${spec.crop}' (expected 'none' or 'center')")
        }
        require(spec.resize == "bilinear") { "only the bilinear resize is implemented, got '${spec.resize}'" }
        if (cropped.width == spec.width && cropped.height == spec.height) return cropped
        return resizeBilinear(cropped, spec.width, spec.height)
    }

    /** side = round(min(w, h) * fraction) (Python rounds half to even), left = (w - side) // 2. */
    fun centerCrop(image: RgbImage, fraction: Double): RgbImage {
        val side = Math.max(1, Math.rint(Math.min(image.width, image.height) * fraction).toInt())
        val left = (image.width - side) / 2
        val top = (image.height - side) / 2
        val out = IntArray(side * side * 3)
        for (y in 0 until side) {
            System.arraycopy(image.rgb, ((top + y) * image.width + left) * 3, out, y * side * 3, side * 3)
        }
        return RgbImage(side, side, out)
    }

    private class Coefficients(val ksize: Int, val bounds: IntArray, val weights: IntArray)

    private fun bilinearFilter(x: Double): Double {
        val a = if (x < 0.0) -x else x
        return if (a < 1.0) 1.0 - a else 0.0
    }

    // Pillow's precompute_coeffs + normalize_coeffs_8bpc: a triangle filter widened by the
    // downscale factor (so shrinking averages, like an antialiased resize), weights in fixed point.
    private fun coefficients(inSize: Int, outSize: Int): Coefficients {
        val scale = inSize.toDouble() / outSize
        val filterScale = if (scale < 1.0) 1.0 else scale
        val support = 1.0 * filterScale
        val ksize = Math.ceil(support).toInt() * 2 + 1
        val bounds = IntArray(outSize * 2)
        val weights = IntArray(outSize * ksize)
        val k = DoubleArray(ksize)
        for (xx in 0 until outSize) {
            val center = (xx + 0.5) * scale
            val ss = 1.0 / filterScale
            var xmin = (center - support + 0.5).toInt()
            if (xmin < 0) xmin = 0
            var xmax = (center + support + 0.5).toInt()
            if (xmax > inSize) xmax = inSize
            xmax -= xmin
            var ww = 0.0
            for (x in 0 until xmax) {
                val w = bilinearFilter((x + xmin - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for (x in 0 until xmax) {
                val w = if (ww != 0.0) k[x] / ww else k[x]
                weights[xx * ksize + x] =
                    if (w < 0) (-0.5 + w * (1 shl PRECISION_BITS)).toInt() else (0.5 + w * (1 shl PRECISION_BITS)).toInt()
            }
            bounds[2 * xx] = xmin
            bounds[2 * xx + 1] = xmax
        }
        return Coefficients(ksize, bounds, weights)
    }

    private fun clip8(v: Int): Int {
        val x = v shr PRECISION_BITS
        return if (x < 0) 0 else if (x > 255) 255 else x
    }

    /** Pillow's Image.resize(size, BILINEAR) on an RGB image, integer for integer. */
    fun resizeBilinear(image: RgbImage, outWidth: Int, outHeight: Int): RgbImage {
        var current = image
        val horizontal = coefficients(image.width, outWidth)
        val vertical = coefficients(image.height, outHeight)
        if (outWidth != image.width) {
            // Horizontal pass over the source rows the vertical pass will read, as Pillow does.
            val first = vertical.bounds[0]
            val last = vertical.bounds[2 * outHeight - 2] + vertical.bounds[2 * outHeight - 1]
            val rows = if (outHeight != image.height) last - first else image.height
            val offset = if (outHeight != image.height) first else 0
            val out = IntArray(outWidth * rows * 3)
            for (yy in 0 until rows) {
                val row = (yy + offset) * image.width * 3
                for (xx in 0 until outWidth) {
                    val xmin = horizontal.bounds[2 * xx]
                    val xmax = horizontal.bounds[2 * xx + 1]
                    val kBase = xx * horizontal.ksize
                    for (c in 0 until 3) {
                        var ss = 1 shl (PRECISION_BITS - 1)
                        for (x in 0 until xmax) {
                            ss += image.rgb[row + (x + xmin) * 3 + c] * horizontal.weights[kBase + x]
                        }
                        out[(yy * outWidth + xx) * 3 + c] = clip8(ss)
                    }
                }
            }
            if (outHeight != image.height) {
                for (i in 0 until outHeight) vertical.bounds[2 * i] -= first
            }
            current = RgbImage(outWidth, rows, out)
        }
        if (outHeight != image.height) {
            val out = IntArray(outWidth * outHeight * 3)
            for (yy in 0 until outHeight) {
                val ymin = vertical.bounds[2 * yy]
                val ymax = vertical.bounds[2 * yy + 1]
                val kBase = yy * vertical.ksize
                for (xx in 0 until outWidth) {
                    for (c in 0 until 3) {
                        var ss = 1 shl (PRECISION_BITS - 1)
                        for (y in 0 until ymax) {
                            ss += current.rgb[((y + ymin) * outWidth + xx) * 3 + c] * vertical.weights[kBase + y]
                        }
                        out[(yy * outWidth + xx) * 3 + c] = clip8(ss)
                    }
                }
            }
            current = RgbImage(outWidth, outHeight, out)
        }
        return current
    }

    /** preprocess.normalize: (pixel - mean) / std in float32, for one pixel value. */
    fun normalize(pixel: Int, spec: PreprocessSpec): Float = (pixel.toFloat() - spec.mean) / spec.std

    /** detector.quantize: round half to even of x * (1 / scale), plus the zero point, saturated. */
    fun quantize(x: Float, input: InputTensorSpec): Int {
        val q = if (input.scale != 0f) Math.rint((x * (1.0f / input.scale)).toDouble()) + input.zeroPoint
        else Math.rint(x.toDouble())
        val lo = if (input.type == TensorType.INT8) -128.0 else 0.0
        val hi = if (input.type == TensorType.INT8) 127.0 else 255.0
        return Math.min(hi, Math.max(lo, q)).toInt()
    }

    /** Pixels at the input size -> the input tensor's bytes (native order, ready for run()). */
    fun inputTensor(image: RgbImage, spec: PreprocessSpec, input: InputTensorSpec): ByteBuffer {
        require(image.width == spec.width && image.height == spec.height) {
            "image is ${image.width}x${image.height}, the input ${spec.width}x${spec.height}"
        }
        val n = image.rgb.size
        return if (input.type == TensorType.FLOAT32) {
            val buffer = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder())
            for (v in image.rgb) buffer.putFloat(normalize(v, spec))
            buffer.rewind()
            buffer
        } else {
            // One table for the 256 pixel values, as edge_runtime.detector.input_table.
            val table = ByteArray(256) { quantize(normalize(it, spec), input).toByte() }
            val buffer = ByteBuffer.allocateDirect(n).order(ByteOrder.nativeOrder())
            for (v in image.rgb) buffer.put(table[v])
            buffer.rewind()
            buffer
        }
    }
}
