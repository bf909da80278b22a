// Runs the Android sample's Preprocessing.kt on a desktop JVM for tests/test_kotlin_preprocessing.py.
// args: IMAGES OUT height width resize crop cropFraction mean std FLOAT32|UINT8|INT8 scale zeroPoint
// IMAGES: int count, then per image int width, int height and width*height*3 RGB bytes (big-endian
// ints, as DataOutputStream). OUT: the input tensor bytes of each image, one after the other.
import org.edgedetect.demo.InputTensorSpec
import org.edgedetect.demo.PreprocessSpec
import org.edgedetect.demo.Preprocessing
import org.edgedetect.demo.TensorType
import java.io.BufferedInputStream
import java.io.BufferedOutputStream
import java.io.DataInputStream
import java.io.FileInputStream
import java.io.FileOutputStream

fun main(args: Array<String>) {
    val spec = PreprocessSpec(
        args[2].toInt(), args[3].toInt(), args[4], args[5], args[6].toDouble(), args[7].toFloat(), args[8].toFloat()
    )
    val tensor = InputTensorSpec(TensorType.valueOf(args[9]), args[10].toFloat(), args[11].toInt())
    DataInputStream(BufferedInputStream(FileInputStream(args[0]))).use { input ->
        BufferedOutputStream(FileOutputStream(args[1])).use { out ->
            repeat(input.readInt()) {
                val width = input.readInt()
                val height = input.readInt()
                val argb = IntArray(width * height)
                for (i in argb.indices) {
                    val r = input.readUnsignedByte()
                    val g = input.readUnsignedByte()
                    val b = input.readUnsignedByte()
                    argb[i] = (0xFF shl 24) or (r shl 16) or (g shl 8) or b
                }
                val buffer = Preprocessing.preprocess(argb, width, height, spec, tensor)
                val bytes = ByteArray(buffer.remaining())
                buffer.get(bytes)
                out.write(bytes)
            }
        }
    }
}
