package org.edgedetect.demo

import android.content.Context
import android.graphics.Bitmap
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.support.metadata.MetadataExtractor
import org.tensorflow.lite.support.metadata.schema.NormalizationOptions
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel
import kotlin.math.roundToInt

/** One classified bitmap: P(fake) and the label at the model's threshold. */
data class FaceResult(val label: String, val fakeProbability: Float, val probabilities: Map<String, Float>)

/**
 * Loads an edge-detect .tflite from assets and classifies bitmaps.
 *
 * Normalisation (mean/std) and the labels come from the TFLite Support metadata packed into the
 * model by `python -m convert.android_assets`, so the same code runs the float and the int8
 * model: for int8 the normalised input is quantised with the input tensor's scale/zero point and
 * the int8 output is dequantised.
 */
class FaceClassifier(
    context: Context,
    assetName: String = "edge_detect_int8.tflite",
    numThreads: Int = 4,
    // Must match the bundle's threshold (android_demo_assets/assets.json, "threshold").
    private val threshold: Float = 0.5f,
) : AutoCloseable {
    private val interpreter: Interpreter
    private val labels: List<String>
    private val mean: FloatArray
    private val std: FloatArray
    private val width: Int
    private val height: Int
    private val inputType: DataType
    private val outputType: DataType

    init {
        val model = loadAsset(context, assetName)
        val metadata = MetadataExtractor(model)
        require(metadata.hasMetadata()) { "$assetName carries no TFLite metadata" }
        val norm = metadata.getInputTensorMetadata(0)!!.processUnits(0)!!
            .options(NormalizationOptions()) as NormalizationOptions
        mean = FloatArray(3) { norm.mean(if (norm.meanLength() == 1) 0 else it) }
        std = FloatArray(3) { norm.std(if (norm.stdLength() == 1) 0 else it) }
        labels = metadata.getAssociatedFile("labels.txt").bufferedReader().readLines().filter { it.isNotBlank() }

        interpreter = Interpreter(model, Interpreter.Options().setNumThreads(numThreads))
        val input = interpreter.getInputTensor(0)
        height = input.shape()[1]
        width = input.shape()[2]
        inputType = input.dataType()
        outputType = interpreter.getOutputTensor(0).dataType()
    }

    fun classify(bitmap: Bitmap): FaceResult {
        // Whole image squashed to the input size with bilinear filtering (crop "none", as trained).
        val scaled = Bitmap.createScaledBitmap(bitmap, width, height, true)
        val pixels = IntArray(width * height)
        scaled.getPixels(pixels, 0, width, 0, 0, width, height)

        val inTensor = interpreter.getInputTensor(0)
        val bytesPerValue = if (inputType == DataType.FLOAT32) 4 else 1
        val input = ByteBuffer.allocateDirect(width * height * 3 * bytesPerValue).order(ByteOrder.nativeOrder())
        val inScale = inTensor.quantizationParams().scale
        val inZero = inTensor.quantizationParams().zeroPoint
        for (p in pixels) {
            val rgb = intArrayOf((p shr 16) and 0xFF, (p shr 8) and 0xFF, p and 0xFF)
            for (c in 0 until 3) {
                val x = (rgb[c] - mean[c]) / std[c]
                when (inputType) {
                    DataType.FLOAT32 -> input.putFloat(x)
                    DataType.INT8 -> input.put((x / inScale + inZero).roundToInt().coerceIn(-128, 127).toByte())
                    else -> error("unsupported input type $inputType")
                }
            }
        }
        input.rewind()

        val outTensor = interpreter.getOutputTensor(0)
        val n = outTensor.shape()[1]
        val probs = FloatArray(n)
        if (outputType == DataType.FLOAT32) {
            val out = Array(1) { FloatArray(n) }
            interpreter.run(input, out)
            out[0].copyInto(probs)
        } else {
            val out = Array(1) { ByteArray(n) }
            interpreter.run(input, out)
            val scale = outTensor.quantizationParams().scale
            val zero = outTensor.quantizationParams().zeroPoint
            for (i in 0 until n) probs[i] = (out[0][i] - zero) * scale
        }
        val fake = probs[labels.indexOf("fake")]
        return FaceResult(
            label = if (fake >= threshold) "fake" else "real",
            fakeProbability = fake,
            probabilities = labels.zip(probs.toList()).toMap(),
        )
    }

    override fun close() = interpreter.close()

    private fun loadAsset(context: Context, name: String): MappedByteBuffer {
        context.assets.openFd(name).use { fd ->
            FileInputStream(fd.fileDescriptor).channel.use { channel ->
                return channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
            }
        }
    }
}
