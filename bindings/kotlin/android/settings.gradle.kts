// A standalone build of the Android library (AAR) for the Kotlin binding; see ../README.md.
// Untested here: the machine that develops libgrlm has no Android SDK or NDK.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "grlm-android"
