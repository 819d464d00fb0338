#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's limit on open descriptors, which bounds how many connections `serve` can hold:
/// every connection, SSE stream included, is one. Shells commonly start programs with a soft
/// limit of 1024 under a far higher hard limit, which would make a server refuse connections
/// near a thousand streams for no reason; as Go's runtime does, `serve` raises the soft limit
/// to the hard one at startup.
enum OpenFileLimit {
    /// Below this many, the startup line says so: a server for many browsers wants more.
    static let low: UInt64 = 4096

    /// Raises the soft limit to the hard limit (at most 1,048,576 when the hard one is
    /// unlimited). Returns the limit in force afterwards, or nil when it cannot be read.
    static func raise() -> UInt64? {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return nil }
        let ceiling: rlim_t = limits.rlim_max == rlim_t.max ? 1 << 20 : limits.rlim_max  // rlim_t.max: RLIM_INFINITY
        if limits.rlim_cur < ceiling {
            var raised = limits
            raised.rlim_cur = ceiling
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limits = raised }
        }
        return UInt64(limits.rlim_cur)
    }
}
