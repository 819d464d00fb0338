import JobLedger
import JobLedgerSQLite

/// The engine's snapshots (`EngineSnapshot`): started from before the first read of the log,
/// written as the log grows and when work stops.
extension JobEngine {
    /// Starts the view from the log's newest engine snapshot, once, before the engine's first
    /// read. A snapshot that cannot be read is ignored, with a warning: the whole log is folded.
    func startFromSnapshot() {
        let fresh = state.withLock { s in
            defer { s.snapshot.tried = true }
            return !s.snapshot.tried && s.view.isFresh
        }
        guard fresh, options.snapshotIntervalEvents != nil else { return }
        // Built aside (the parts one at a time), then put in place of the fresh view.
        let now = clock.now()
        var view: EngineView?
        let read: Result<Int64, EngineSnapshot.Unreadable>?
        do {
            read = try EngineSnapshot.read(from: ledger, head: { view = EngineView(head: $0) },
                                           part: { jobs, kinds in view?.load(part: jobs, kinds: kinds, now: now) })
        } catch {
            options.logger.warning("could not read the engine snapshot (\(error)); reading the whole log")
            return
        }
        switch read {
        case nil:
            return
        case .failure(let why)?:
            options.logger.warning("the engine snapshot cannot be read (\(why)); reading the whole log")
        case .success?:
            guard var view else { return }
            let started = state.withLock { s -> Bool in
                guard s.view.isFresh else { return false }
                view.takeAhead(from: s.view, now: now)
                s.view = view
                s.snapshot.seq = view.lastSeq
                return true
            }
            if started {
                options.logger.info("started from the engine snapshot at seq \(view.lastSeq)", metadata: ["jobs_in_flight": "\(view.count)"])
            }
        }
    }

    /// Writes a snapshot in the background when the view has folded enough events since the last
    /// one: at least `Options.snapshotIntervalEvents`, and twice as many as the jobs in flight
    /// (so writing them costs at most half a job per event folded).
    func snapshotWhenDue() {
        guard let interval = options.snapshotIntervalEvents, storage.current == nil else { return }
        state.withLock { s in
            guard s.snapshot.writing == nil, s.view.lastSeq - s.snapshot.seq >= max(Int64(interval), 2 * Int64(s.view.count)) else { return }
            s.snapshot.seq = s.view.lastSeq  // not due again before the next interval, written or not
            s.snapshot.writing = Task { await self.writeSnapshot() }
        }
    }

    /// Writes a snapshot of what the view holds now, unless it folded nothing since the one
    /// stored; after a write in progress. For `work()` and `workUntilIdle()` as they return.
    func snapshotNow() async {
        guard options.snapshotIntervalEvents != nil else { return }
        if let pending = state.withLock({ $0.snapshot.writing }) { await pending.value }
        guard storage.current == nil else { return }
        let task = state.withLock { s -> Task<Void, Never>? in
            guard s.snapshot.writing == nil else { return nil }
            let t = Task { await self.writeSnapshot() }
            s.snapshot.writing = t
            return t
        }
        await task?.value
    }

    /// Stores the view's fold, encoded part by part inside the write transaction under the
    /// engine's lock (so the parts and the head are of one moment, and a snapshot of a million
    /// jobs is never held in memory whole). A failed write is logged and tried again an
    /// interval later.
    private func writeSnapshot() async {
        let now = clock.now()
        do {
            let written = try await ledger.saveEngineSnapshot(at: now) { stored, emit in
                // Called synchronously, inside this call only: the view keeps no hold of it.
                nonisolated(unsafe) let emit = emit
                return try self.state.withLock { s throws -> EngineSnapshotHead? in
                    guard s.view.lastSeq > stored else { return nil }
                    let (head, jobs) = try s.view.writeSnapshot(emit: emit)
                    s.snapshot.seq = max(s.snapshot.seq, head.seq)
                    return EngineSnapshotHead(seq: head.seq, jobs: jobs, head: EngineSnapshot.encode(head))
                }
            }
            if let written { options.logger.debug("wrote the engine snapshot at seq \(written)") }
        } catch where Task.isCancelled {
            // Cut short by the engine's task being cancelled (shutdown): the next start writes one.
        } catch {
            options.logger.warning("could not write the engine snapshot: \(error)")
        }
        state.withLock { $0.snapshot.writing = nil }
    }
}

extension EngineSnapshot {
    /// Reads the log's engine snapshot as a starting engine takes it: its head (`head`), then
    /// each part's queued jobs in order (`part`, with the head's kinds). Nil when the log has
    /// none that belongs to it; `.failure` when it does not decode, or its parts are not all
    /// there (a storage error reading a part counts as that: the engine then folds the whole
    /// log); `.success` with its `seq` otherwise. What `startFromSnapshot()` and
    /// `EngineSnapshotAudit` read, so that the audit checks the snapshot an engine would use.
    static func read(from ledger: Ledger, head start: (Head) -> Void,
                     part load: ([Job], [String]) -> Void) throws(LedgerError) -> Result<Int64, Unreadable>? {
        try ledger.readEngineSnapshot { seq, headBytes, parts, next -> Result<Int64, Unreadable> in
            do throws(Unreadable) {
                let head = try decodeHead(headBytes)
                guard head.seq == seq else { throw .init(description: "its head says seq \(head.seq), its row \(seq)") }
                start(head)
                var count = 0
                while let body = try readPart(next) {
                    load(try decodePart(body, seq: seq, kinds: head.kinds.count), head.kinds)
                    count += 1
                }
                guard count == parts else { throw .init(description: "it has \(count) of its \(parts) parts") }
                return .success(seq)
            } catch {
                return .failure(error)
            }
        }
    }

    /// `next`, its storage errors made `Unreadable` (the read goes on to the whole log).
    private static func readPart(_ next: () throws -> [UInt8]?) throws(Unreadable) -> [UInt8]? {
        do { return try next() } catch { throw .init(description: "\(error)") }
    }
}
