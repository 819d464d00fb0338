/// What counts as a loopback address, for the Host check of `--insecure-no-auth`
/// (`BrowserGuard`) and for the `--host` that mode may bind to (`jobledger serve`).
package enum Loopback {
    /// Whether `name` is an IPv4 address in 127.0.0.0/8: four dot-separated numbers 0…255 in
    /// decimal digits (no sign), the first 127.
    package static func isIPv4(_ name: some StringProtocol) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127"
            && parts.allSatisfy { p in p.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } && UInt8(p) != nil }
    }
}
