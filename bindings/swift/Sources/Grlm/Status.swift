import CGrlm
import Foundation

/// What a libgrlm call reported: `GRLM_STATUS_*`, with the header's raw values, which are
/// part of the ABI and never reused.
public enum Status: UInt32, Sendable, CaseIterable {
    case ok = 0
    case nullArgument = 1
    case invalidUTF8 = 2
    case invalidArgument = 3
    case structSize = 4
    case indexOutOfRange = 5
    case io = 10
    case catalogCorrupt = 11
    case catalogVersion = 12
    case model = 13
    case adapter = 14
    case noTokenTrie = 15
    case tokenizerMismatch = 16
    case noPrior = 17
    case emptyHistory = 20
    case unknownItem = 21
    case promptTooLong = 22
    case invalidTID = 23
    case sessionBusy = 24
    case stateRefused = 25
    case backend = 30
    case poisoned = 98
    case panic = 99
    case `internal` = 100

    /// The library's name for the code, e.g. `"GRLM_STATUS_UNKNOWN_ITEM"`.
    public var name: String {
        statusName(rawValue)
    }
}

func statusName(_ code: UInt32) -> String {
    // Static storage in the library: no lifetime to manage.
    String(cString: grlm_status_name(code))
}

/// A libgrlm call failed.
public struct GrlmError: Error, Sendable, CustomStringConvertible, LocalizedError {
    /// The raw status code, kept even when this binding does not know it.
    public let code: UInt32
    /// The status, or nil for a code added by a newer library than this binding (new codes
    /// do not change `GRLM_ABI_VERSION`, so a compatible library may return one).
    public let status: Status?
    /// The library's name for the code (`"GRLM_STATUS_UNKNOWN"` when it has none).
    public let name: String
    /// Why the call failed, in the library's words.
    public let message: String

    /// Must run on the failing call's thread before any other libgrlm call: the message is
    /// per thread and replaced by the next call that returns a status.
    init(code: UInt32) {
        self.init(code: code, message: String(cString: grlm_last_error_message()))
    }

    init(code: UInt32, message: String) {
        self.code = code
        status = Status(rawValue: code)
        name = statusName(code)
        self.message = message
    }

    public var description: String {
        message.isEmpty ? name : "\(name): \(message)"
    }

    public var errorDescription: String? {
        description
    }
}

/// Failures the binding detects before reaching libgrlm.
public enum GrlmBindingError: Error, Sendable, CustomStringConvertible {
    /// The linked library was built for another `GRLM_ABI_VERSION` than the header this
    /// binding was compiled with: struct layouts may differ, so nothing is called.
    case abiMismatch(header: UInt32, library: UInt32)
    /// A string argument contains a NUL byte; C would silently see only the part before it
    /// (a different path or TID), so it is refused instead.
    case embeddedNul(argument: String)

    public var description: String {
        switch self {
        case let .abiMismatch(header, library):
            return "libgrlm ABI version \(library) does not match the header's \(header): "
                + "rebuild the library and the binding from the same checkout"
        case let .embeddedNul(argument):
            return "\(argument) contains a NUL byte"
        }
    }
}

/// Turns a status into a throw. Every wrapper is synchronous, so this runs on the thread
/// that made the call, where `grlm_last_error_message()` still describes it.
func check(_ code: UInt32) throws {
    guard code == Status.ok.rawValue else {
        throw GrlmError(code: code)
    }
}

/// Calls `body` with a C string for `value`, refusing values with an embedded NUL.
func withCheckedCString<R>(
    _ value: String,
    argument: String,
    _ body: (UnsafePointer<CChar>) throws -> R
) throws -> R {
    guard !value.utf8.contains(0) else {
        throw GrlmBindingError.embeddedNul(argument: argument)
    }
    return try value.withCString(body)
}

/// As `withCheckedCString`, passing NULL for nil (the C API's "none").
func withOptionalCheckedCString<R>(
    _ value: String?,
    argument: String,
    _ body: (UnsafePointer<CChar>?) throws -> R
) throws -> R {
    guard let value else {
        return try body(nil)
    }
    return try withCheckedCString(value, argument: argument) { try body($0) }
}
