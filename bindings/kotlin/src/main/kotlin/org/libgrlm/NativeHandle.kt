package org.libgrlm

import com.sun.jna.Pointer
import java.util.concurrent.locks.ReentrantReadWriteLock

/**
 * An owned libgrlm handle that [close] frees once.
 *
 * The C API makes freeing a handle while another thread is inside a call with it
 * undefined behaviour. Calls therefore hold a read lock (any number at once, so an engine
 * stays concurrent and a session still reports SESSION_BUSY itself) and [close] takes
 * the write lock, waiting for calls in flight instead of freeing under them.
 */
internal class NativeHandle(pointer: Pointer, private val what: String, private val free: (Pointer) -> Unit) {
    private val lock = ReentrantReadWriteLock()
    private var pointer: Pointer? = pointer

    /** Runs [block] with the live pointer; [IllegalStateException] once closed. */
    fun <T> use(block: (Pointer) -> T): T {
        val read = lock.readLock()
        read.lock()
        try {
            val p = pointer ?: throw IllegalStateException("$what is closed")
            return block(p)
        } finally {
            read.unlock()
        }
    }

    /** Frees the handle; later calls are no-ops. */
    fun close() {
        val write = lock.writeLock()
        write.lock()
        try {
            val p = pointer ?: return
            pointer = null
            free(p)
        } finally {
            write.unlock()
        }
    }
}
