package org.libgrlm

/**
 * `grlm_status`: what a call did. [code] is the C value, part of the ABI.
 *
 * A library newer than this binding may return codes it does not know; they become
 * [UNKNOWN] (the raw value stays in [GrlmException.code]) rather than a crash.
 */
enum class Status(val code: Int) {
    OK(0),
    NULL_ARGUMENT(1),
    INVALID_UTF8(2),
    INVALID_ARGUMENT(3),
    STRUCT_SIZE(4),
    INDEX_OUT_OF_RANGE(5),
    IO(10),
    CATALOG_CORRUPT(11),
    CATALOG_VERSION(12),
    MODEL(13),
    ADAPTER(14),
    NO_TOKEN_TRIE(15),
    TOKENIZER_MISMATCH(16),
    NO_PRIOR(17),
    EMPTY_HISTORY(20),
    UNKNOWN_ITEM(21),
    PROMPT_TOO_LONG(22),
    INVALID_TID(23),
    SESSION_BUSY(24),
    STATE_REFUSED(25),
    BACKEND(30),
    POISONED(98),
    PANIC(99),
    INTERNAL(100),

    /** A code this binding does not know; never returned by the library itself. */
    UNKNOWN(-1);

    companion object {
        private val byCode = values().associateBy { it.code }

        /** The status for a C code; [UNKNOWN] for one this binding does not define. */
        fun of(code: Int): Status = if (code == UNKNOWN.code) UNKNOWN else byCode[code] ?: UNKNOWN
    }
}

/**
 * A libgrlm call failed. [message] is the library's reason (`grlm_last_error_message`),
 * [code] the raw status value, which differs from [status]'s only when [status] is
 * [Status.UNKNOWN].
 */
class GrlmException(val status: Status, message: String, val code: Int = status.code) :
    RuntimeException(message) {
    // Stack traces print toString(); the status is what a reader needs first.
    override fun toString(): String =
        if (status == Status.UNKNOWN) "GrlmException(UNKNOWN $code): $message" else "GrlmException($status): $message"
}

/**
 * Throws [GrlmException] for a non-OK [code]. Must run on the thread that made the call
 * and before any other libgrlm call there: the message is per thread and overwritten by
 * the next call.
 */
internal fun GrlmLibrary.check(code: Int) {
    if (code == Status.OK.code) return
    throw GrlmException(Status.of(code), grlm_last_error_message(), code)
}
