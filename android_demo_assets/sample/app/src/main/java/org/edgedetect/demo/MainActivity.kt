package org.edgedetect.demo

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.net.Uri
import android.os.Bundle
import android.widget.Button
import android.widget.ImageView
import android.widget.TextView
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import java.util.concurrent.Executors

class MainActivity : AppCompatActivity() {
    private val worker = Executors.newSingleThreadExecutor()
    private lateinit var classifier: FaceClassifier

    private val pickImage = registerForActivityResult(ActivityResultContracts.GetContent()) { uri: Uri? ->
        uri?.let { classify(it) }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        classifier = FaceClassifier(this, "edge_detect_int8.tflite")
        findViewById<Button>(R.id.pick).setOnClickListener { pickImage.launch("image/*") }
    }

    private fun classify(uri: Uri) {
        val bitmap: Bitmap = contentResolver.openInputStream(uri).use { BitmapFactory.decodeStream(it) }
            ?: return run { findViewById<TextView>(R.id.result).text = "not an image" }
        findViewById<ImageView>(R.id.image).setImageBitmap(bitmap)
        worker.execute {
            val start = System.nanoTime()
            val result = classifier.classify(bitmap)
            val ms = (System.nanoTime() - start) / 1e6
            runOnUiThread {
                findViewById<TextView>(R.id.result).text =
                    "%s  (P(fake) = %.3f, %.1f ms)".format(result.label, result.fakeProbability, ms)
            }
        }
    }

    override fun onDestroy() {
        worker.shutdown()
        classifier.close()
        super.onDestroy()
    }
}
