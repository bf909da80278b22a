plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.edgedetect.demo"
    compileSdk = 34

    defaultConfig {
        applicationId = "org.edgedetect.demo"
        minSdk = 24
        targetSdk = 34
        versionCode = 1
        versionName = "1.0"
    }

    // The .tflite must stay uncompressed in the APK so the interpreter can memory-map it.
    androidResources {
        noCompress += "tflite"
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
}

dependencies {
    // Plain TFLite interpreter (int8 input/output needs manual quantisation; Task Library's
    // ImageClassifier accepts only uint8/float32 inputs).
    implementation("org.tensorflow:tensorflow-lite:2.14.0")
    // Reads the TFLite Support metadata packed into the model (normalisation, labels.txt).
    implementation("org.tensorflow:tensorflow-lite-metadata:0.4.4")
    implementation("androidx.appcompat:appcompat:1.7.0")
}
