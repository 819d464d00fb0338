#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's limit on open descriptors, which bounds how many connections `serve` can hold:
/// every connection, SSE stream included, is one. Shells commonly start programs with a soft
/// limit of 1024 (256 on macOS) under a far higher hard limit, which would leave a server
/// unable to accept near a thousand streams for no reason; as Go's runtime does, `serve` raises
/// the soft limit to the hard one at startup, and so do `work` and `demo` (an engine's readers,
/// attempts and projections hold descriptors too).
enum OpenFileLimit {
    /// Below this many, the startup line says so: a server for many browsers wants more.
    static let low: UInt64 = 4096
    /// The most it asks for: a hard limit that is unlimited, or larger, is met at this.
    static let most: UInt64 = 1 << 20
    /// macOS refuses a soft limit over kern.maxfilesperproc; OPEN_MAX is what it always allows.
    static let darwinFallback: UInt64 = 10_240

    /// Raises the soft limit towards the hard limit (at most `most`). Returns the limit in force
    /// afterwards, or nil when it cannot be read.
    static func raise() -> UInt64? {
        #if os(Linux)
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        var limits = rlimit()
        guard getrlimit(resource, &limits) == 0 else { return nil }
        // RLIM_INFINITY is the largest value on Linux and on macOS alike: `most` covers it.
        let wanted = min(UInt64(limits.rlim_max), most)
        for target in [wanted, min(wanted, darwinFallback)] where UInt64(limits.rlim_cur) < target {
            var raised = limits
            raised.rlim_cur = rlim_t(target)
            if setrlimit(resource, &raised) == 0 { limits = raised; break }
        }
        return UInt64(limits.rlim_cur)
    }
}
