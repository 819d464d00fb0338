import JobLedger

extension LedgerConfiguration {
    /// The payload limits a log may be opened with: 1 byte to 16 MiB (the `jobledger` tool's
    /// `--max-payload-bytes` takes the same).
    public static let maxPayloadBytesRange = 1...16 * 1024 * 1024
    /// The busy timeouts a log may be opened with: zero (fail at once) to an hour (the tool's
    /// `--busy-timeout` takes the same).
    public static let busyTimeoutRange = Duration.zero...Duration.seconds(3600)
    /// The page limits SQLite's `max_page_count` accepts.
    public static let maxPageCountRange = 1...4_294_967_294

    /// Throws `LedgerError.invalidConfiguration`, naming the field, for a configuration no log
    /// can be opened with: a `maxPayloadBytes` outside `maxPayloadBytesRange` (0 or less
    /// refused every append, "over the limit of -1 bytes"), a `busyTimeout` outside
    /// `busyTimeoutRange`, a `maxPageCount` outside `maxPageCountRange`. `Ledger.open` and
    /// `Ledger.openReadOnly` check this before they touch the file; call it to refuse a
    /// configuration where it is made (read from a settings file, say).
    ///
    /// ```swift
    /// var settings = LedgerConfiguration()
    /// settings.maxPayloadBytes = 0
    /// try settings.validate()   // cannot open a log: LedgerConfiguration.maxPayloadBytes must be in 1…16777216 bytes, got 0
    /// ```
    public func validate() throws(LedgerError) {
        let payload = Self.maxPayloadBytesRange
        guard payload.contains(maxPayloadBytes) else {
            throw .invalidConfiguration(field: "maxPayloadBytes",
                                        reason: "must be in \(payload.lowerBound)…\(payload.upperBound) bytes, got \(maxPayloadBytes)")
        }
        guard Self.busyTimeoutRange.contains(busyTimeout) else {
            throw .invalidConfiguration(field: "busyTimeout", reason: "must be in 0…3600 seconds, got \(busyTimeout)")
        }
        if let maxPageCount, !Self.maxPageCountRange.contains(maxPageCount) {
            throw .invalidConfiguration(field: "maxPageCount",
                                        reason: "must be in \(Self.maxPageCountRange.lowerBound)…\(Self.maxPageCountRange.upperBound) pages (nil: no limit), got \(maxPageCount)")
        }
    }
}

extension Ledger {
    /// Refuses what no log can be opened with, before the file is touched: an empty path
    /// (SQLite would open a private temporary database, gone when closed, and the first write
    /// failed with an obscure "could not activate WAL mode"), and an invalid configuration.
    static func checkOpening(path: String, configuration: LedgerConfiguration) throws(LedgerError) {
        guard !path.isEmpty else {
            throw .invalidConfiguration(field: "path", reason: "is empty; give the path of the log file, such as \"jobs.sqlite\"")
        }
        try configuration.validate()
    }
}
