import JobLedger

/// How a log file is opened: durability, limits, waiting and the clock that stamps events.
///
/// ```swift
/// var settings = LedgerConfiguration()
/// settings.durability = .full
/// settings.busyTimeout = .seconds(30)          // several processes share the file
/// let ledger = try Ledger.open(path: "jobs.sqlite", configuration: settings)
/// ```
public struct LedgerConfiguration: Sendable {
    /// How hard a commit works to survive a power cut. See `Docs/EventLog.md` § Durability.
    public enum Durability: String, Sendable, CaseIterable {
        /// WAL with `synchronous=NORMAL`: a commit survives a crash of the process; the last
        /// commits before a power cut or OS crash may be lost, but the file is never corrupt.
        case normal
        /// WAL with `synchronous=FULL`: every commit is on disk before `append` returns.
        case full
    }

    /// `.normal` by default.
    public var durability: Durability = .normal
    /// Largest payload (canonical JSON, bytes) an append accepts: 1 byte to 16 MiB
    /// (`validate()`). Bytes belong in assets.
    public var maxPayloadBytes: Int = 64 * 1024
    /// How long to wait for another writer's lock before failing with `LedgerError.busy`: zero
    /// to an hour (`validate()`).
    public var busyTimeout: Duration = .seconds(5)
    /// Stamps `recorded_at`. Tests inject a manual clock here (`ManualClock.function`) and
    /// give the engine the same clock.
    public var clock: @Sendable () -> Timestamp = { Timestamp.now }
    /// The most pages (of 4 KB) the file may grow to: SQLite's `max_page_count`. Past it a write
    /// fails as on a full disk (`StorageFault.Kind.full`). Nil: no limit but the disk's; else
    /// 1…4294967294 (`validate()`). For a
    /// quota, and to rehearse a full disk (`JOBLEDGER_MAX_PAGE_COUNT` in the CLI).
    public var maxPageCount: Int?

    /// The defaults: `.normal` durability, 64 KiB payloads, a 5 s busy timeout, the wall clock.
    public init() {}
}
