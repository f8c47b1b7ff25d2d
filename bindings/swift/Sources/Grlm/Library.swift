import CGrlm

/// Facts about the linked libgrlm.
public enum GrlmLibrary {
    /// The library's version, `"major.minor.patch"`.
    public static var version: String {
        // Static storage in the library: no lifetime to manage.
        String(cString: grlm_version())
    }

    /// The library's `GRLM_ABI_VERSION`.
    public static var abiVersion: UInt32 {
        grlm_abi_version()
    }

    /// The `GRLM_ABI_VERSION` of the header this binding was compiled against.
    public static let headerABIVersion = UInt32(GRLM_ABI_VERSION)

    // A static let is initialised once, thread-safely, on first use: the comparison runs
    // on the first engine open and is remembered after that.
    private static let abiMismatch: GrlmBindingError? = {
        let library = grlm_abi_version()
        let header = GrlmLibrary.headerABIVersion
        return library == header ? nil : .abiMismatch(header: header, library: library)
    }()

    /// Throws when the header and the library disagree: then struct layouts may differ and
    /// no call into the library is safe.
    static func verifyABI() throws {
        if let mismatch = abiMismatch {
            throw mismatch
        }
    }
}
