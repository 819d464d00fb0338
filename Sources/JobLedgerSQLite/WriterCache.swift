import GRDB
import GRDBSQLite
import JobLedger
import Synchronization

/// What a ledger's writer remembers between its commits, so that an append usually needs no
/// read before it writes: the chain's head after its last commit, and the states of the jobs it
/// appended to since another connection last committed. Remembered values are trusted only
/// while the file shows that nobody else committed since (`SQLITE_FCNTL_DATA_VERSION`, then
/// `PRAGMA data_version`); otherwise the head is read again and the job states are dropped.
///
/// Used on the writer connection only (every method that takes a `Database` runs inside the
/// append transaction); the lock makes the counters readable from anywhere.
final class WriterCache: Sendable {
    private struct State {
        /// The head after this ledger's last commit, and the writer connection's
        /// `PRAGMA data_version` then. While data_version is unchanged no other connection has
        /// committed, so the head and the job states are still the log's.
        var head: ChainHead?
        var dataVersion: Int64?
        /// The writer connection's `SQLITE_FCNTL_DATA_VERSION` right after this ledger's last
        /// commit. Unlike `data_version` it also moves with the connection's own commits, so an
        /// unchanged value proves that nothing at all was committed since, with no statement run.
        var fileVersion: UInt32?
        /// States of unfinished jobs this ledger appended to since another connection last
        /// committed (emptied whenever `data_version` shows one did).
        var jobs: [JobID: JobState] = [:]
        /// Transactions committed by this ledger's appends.
        var transactions = 0
    }

    /// Where a batch starts: the head, and whether the remembered job states can be trusted
    /// without asking the log (no other connection committed since this ledger's last commit).
    struct BatchStart: Sendable {
        var head: ChainHead
        var trusted: Bool
        var dataVersion: Int64
    }

    private let state = Mutex(State())
    /// Beyond this many remembered jobs, the cache starts afresh.
    static let jobLimit = 50_000

    /// Transactions committed by this ledger's appends (for tests and benchmarks).
    var transactions: Int { state.withLock { $0.transactions } }

    /// The remembered state of a job (nil: none remembered, which says nothing about the log).
    func state(of job: JobID) -> JobState? { state.withLock { $0.jobs[job] } }

    /// Called first in an append transaction: where the batch starts, and whether the remembered
    /// job states hold. When another connection committed since, they are dropped, including
    /// those of jobs this batch does not touch, so that a later trusted batch only ever trusts
    /// states recorded since this data_version.
    func beginBatch(_ db: Database) throws -> BatchStart {
        let (head, dataVersion, fileVersion) = state.withLock { ($0.head, $0.dataVersion, $0.fileVersion) }
        // Nothing committed on this file since our last commit: no need to ask `data_version`.
        if let head, let dataVersion, let fileVersion, let current = Self.fileDataVersion(db), fileVersion == current {
            return BatchStart(head: head, trusted: true, dataVersion: dataVersion)
        }
        let current = try Int64.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) ?? -1
        if let head, dataVersion == current { return BatchStart(head: head, trusted: true, dataVersion: current) }
        state.withLock { $0.jobs.removeAll(keepingCapacity: true) }
        let logHead = try Ledger.fetchHead(db) ?? ChainHead(seq: 0, hash: HashChain.genesis)
        return BatchStart(head: logHead, trusted: false, dataVersion: current)
    }

    /// Called after a batch committed (still on the writer connection, so that no other write
    /// runs in between): counts the transaction, remembers the head it ended at and the states
    /// of the jobs it moved on. Finished jobs are forgotten: nothing more may be appended to
    /// them but a requeue, which is validated against the log.
    func recordCommit(from start: BatchStart, to head: ChainHead, jobs: BatchStates, db: Database) {
        let fileVersion = Self.fileDataVersion(db)
        state.withLock { s in
            s.transactions += 1
            s.head = head
            s.dataVersion = start.dataVersion
            s.fileVersion = fileVersion
            if s.jobs.count > Self.jobLimit { s.jobs.removeAll(keepingCapacity: true) }
            jobs.forEach { job, st in
                if st.status.isTerminal { s.jobs[job] = nil } else { s.jobs[job] = st }
            }
        }
    }

    /// Forgets the head, after a write that did not go through the committer (an import): the
    /// next batch reads it from the log, and drops the job states.
    func forgetHead() {
        state.withLock { $0.head = nil; $0.dataVersion = nil; $0.fileVersion = nil }
    }

    /// The connection's data version of the main database (`SQLITE_FCNTL_DATA_VERSION`): it
    /// changes with every commit to the file, this connection's own included. Nil when the file
    /// control is not supported, so that nothing is ever trusted on its word.
    static func fileDataVersion(_ db: Database) -> UInt32? {
        var version: UInt32 = 0
        guard let handle = db.sqliteConnection,
              sqlite3_file_control(handle, "main", SQLITE_FCNTL_DATA_VERSION, &version) == SQLITE_OK else { return nil }
        return version
    }
}
