package org.edgedetect.demo

import android.content.Context
import android.graphics.Bitmap
import org.json.JSONObject
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.support.metadata.MetadataExtractor
import org.tensorflow.lite.support.metadata.schema.NormalizationOptions
import java.io.FileInputStream
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

/** One classified bitmap: P(fake) and the label at the model's threshold. */
data class FaceResult(val label: String, val fakeProbability: Float, val probabilities: Map<String, Float>)

/**
 * Loads an edge-detect .tflite from assets and classifies bitmaps.
 *
 * Nothing about the model is hard-coded here: the preprocessing (crop, resize, input size,
 * mean/std) and the decision threshold come from `bundle.json`, and the labels from
 * `labels.txt`, both packed into the model by `python -m convert.android_assets`; the input
 * tensor's type, scale and zero point come from the interpreter. The pixel math is
 * [Preprocessing] (plain Kotlin, checked against the Python runtime by
 * tests/test_kotlin_preprocessing.py).
 *
 * With the shipped assets the model takes uint8 pixels of the square centre of the image resized
 * to 256x256 and does the 0.875 centre crop and the normalisation itself; this class would run
 * a model that needs them done outside just as well, because it follows bundle.json.
 */
class FaceClassifier(
    context: Context,
    assetName: String = "edge_detect_int8.tflite",
    numThreads: Int = 4,
) : AutoCloseable {
    private val interpreter: Interpreter
    private val labels: List<String>
    private val spec: PreprocessSpec
    private val inputSpec: InputTensorSpec
    val threshold: Float

    init {
        val model = loadAsset(context, assetName)
        val metadata = MetadataExtractor(model)
        require(metadata.hasMetadata()) { "$assetName carries no TFLite metadata" }
        labels = metadata.getAssociatedFile("labels.txt").bufferedReader().readLines().filter { it.isNotBlank() }
        val bundle = JSONObject(metadata.getAssociatedFile("bundle.json").bufferedReader().readText())
        val pre = bundle.getJSONObject("preprocess")
        spec = PreprocessSpec(
            height = pre.getInt("height"),
            width = pre.getInt("width"),
            resize = pre.getString("resize"),
            crop = pre.getString("crop"),
            cropFraction = pre.getDouble("crop_fraction"),
            mean = pre.getDouble("mean").toFloat(),
            std = pre.getDouble("std").toFloat(),
        )
        threshold = bundle.getDouble("threshold").toFloat()
        // The standard metadata must say the same normalisation (Task Library / MediaPipe read it).
        val norm = metadata.getInputTensorMetadata(0)!!.processUnits(0)!!
            .options(NormalizationOptions()) as NormalizationOptions
        require(norm.mean(0) == spec.mean && norm.std(0) == spec.std) {
            "$assetName: metadata normalisation (${norm.mean(0)}, ${norm.std(0)}) differs from bundle.json"
        }

        interpreter = Interpreter(model, Interpreter.Options().setNumThreads(numThreads))
        val input = interpreter.getInputTensor(0)
        require(input.shape()[1] == spec.height && input.shape()[2] == spec.width) {
            "$assetName: input ${input.shape().joinToString("x")} does not match bundle.json"
        }
        val type = when (input.dataType()) {
            DataType.FLOAT32 -> TensorType.FLOAT32
            DataType.UINT8 -> TensorType.UINT8
            DataType.INT8 -> TensorType.INT8
            else -> error("unsupported input type ${input.dataType()}")
        }
        inputSpec = InputTensorSpec(type, input.quantizationParams().scale, input.quantizationParams().zeroPoint)
    }

    fun classify(bitmap: Bitmap): FaceResult {
        val argb = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(argb, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        val input = Preprocessing.preprocess(argb, bitmap.width, bitmap.height, spec, inputSpec)

        val outTensor = interpreter.getOutputTensor(0)
        val n = outTensor.shape()[1]
        val probs = FloatArray(n)
        if (outTensor.dataType() == DataType.FLOAT32) {
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
