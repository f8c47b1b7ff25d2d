// The Kotlin binding as an Android library (AAR): the same sources the JVM test compiles,
// JNA's Android artifact, and libgrlm.so per ABI from cargo-ndk. See ../README.md.
// Untested here: the machine that develops libgrlm has no Android SDK or NDK.
plugins {
    id("com.android.library") version "8.5.2"
    id("org.jetbrains.kotlin.android") version "1.9.24"
}

android {
    namespace = "org.libgrlm"
    compileSdk = 34

    defaultConfig {
        minSdk = 24
        // Apps that shrink with R8 get the keep rules JNA's reflection needs.
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets["main"].apply {
        // One copy of the binding for the JVM and Android; its test stays JVM-only.
        java.srcDir("../src/main/kotlin")
        // Where `cargo ndk -o bindings/kotlin/android/src/main/jniLibs` writes
        // <abi>/libgrlm.so (and libc++_shared.so with --link-libcxx-shared).
        jniLibs.srcDir("src/main/jniLibs")
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }

    kotlinOptions {
        jvmTarget = "1.8"
    }
}

dependencies {
    // `api`: the binding's raw layer (GrlmLibrary, the Structure classes) exposes JNA
    // types. The @aar artifact carries libjnidispatch.so for every Android ABI; the
    // plain jar would not load on a device.
    api("net.java.dev.jna:jna:5.14.0@aar")
}
