import Foundation
import JobLedger
import JobLedgerSQLite

/// Ownership of effect projections between processes: a lease per projection, renewed while
/// deliveries run, fenced by its generation.
extension ProjectionRunner {
    /// Takes or renews ownership of an effect projection when its lease is half spent; nil
    /// when another owner holds it.
    func own(_ name: ProjectionName, renewNow: Bool = false) async throws -> ProjectionLease? {
        let now = clock.now()
        if !renewNow, let lease = leases.withLock({ $0[name] }),
           lease.until.milliseconds - now.milliseconds > options.leaseMilliseconds / 2 { return lease }
        var owned = try await ledger.acquireProjection(name, owner: options.owner, now: now, leaseMilliseconds: options.leaseMilliseconds)
        if owned == nil, let holder = try ledger.projectionOwner(name), Self.isDeadLocalProcess(holder) {
            owned = try await ledger.acquireProjection(name, owner: options.owner, now: now, leaseMilliseconds: options.leaseMilliseconds,
                                                       replacing: holder)
            // Said once it is done: a takeover that a storage fault refuses is tried again every
            // poll, and was announced each time (14 times in 16 s on a full disk).
            if owned != nil { options.logger.warning("took over projection \(name) from \(holder), a process that is gone") }
        }
        let before = leases.withLock { l in
            defer { l[name] = owned }
            return l[name]
        }
        if let before, before.generation != owned?.generation {
            options.logger.warning("projection \(name): lease of generation \(before.generation) lost to \(owned == nil ? "another owner" : "a new term")")
        }
        return owned
    }

    /// Runs a write guarded by the projection's lease; when another owner has taken the
    /// projection over, forgets the lease, logs it once and returns nil: the new owner
    /// delivers what this runner was about to record.
    func fenced<T>(_ name: ProjectionName, _ body: () async throws -> T) async throws -> T? {
        do {
            return try await body()
        } catch LedgerError.projectionTakenOver(_, let holder) {
            leases.withLock { $0[name] = nil }
            options.logger.warning("projection \(name) was taken over by \(holder ?? "another owner") while this process held it; stopping its delivery here")
            return nil
        }
    }

    /// Runs a sink call while renewing the projection's lease every `renewInterval`, so that a
    /// delivery slower than the lease does not let a second process take the projection over
    /// and deliver the same items concurrently.
    func renewingLease<T, E: Error>(_ name: ProjectionName, during call: () async throws(E) -> T) async throws(E) -> T {
        let interval = options.renewInterval ?? .milliseconds(max(1, options.leaseMilliseconds / 3))
        // Unstructured: a shutdown that cancels the delivery does not stop a renewal midway.
        // Registered, so that `release()` stops it too.
        let renewal = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { break }
                _ = try? await self.own(name, renewNow: true)
            }
        }
        let number = renewals.withLock { r in
            defer { r.next += 1 }
            r.tasks[r.next] = renewal
            return r.next
        }
        let result: Result<T, E>
        do throws(E) { result = .success(try await call()) } catch { result = .failure(error) }
        renewals.withLock { _ = $0.tasks.removeValue(forKey: number) }
        renewal.cancel()
        await renewal.value  // no renewal may land after the caller goes on (and perhaps releases)
        return try result.get()
    }

    /// Runs bookkeeping that must happen once a sink call has returned, even when the runner is
    /// being cancelled (shutdown): recording a delivery, a failure, giving up a lease. GRDB
    /// refuses database access from a cancelled task; an unstructured task is not cancelled.
    static func uncancelled<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await Task { try await body() }.value
    }

    static func uncancelled(_ body: @escaping @Sendable () async -> Void) async {
        await Task { await body() }.value
    }

    /// This process as an owner: `<host>/<pid namespace>:<pid>`. The namespace tells apart
    /// containers that share a host name but not their process ids. The default
    /// `Options.owner`; a runner takes over at once from an owner on this host whose process
    /// is gone.
    public static var localOwner: String { "\(localPlace):\(getpid())" }

    static let localPlace: String = {
        let ns = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")) ?? "pid"
        return "\(ProcessInfo.processInfo.hostName)/\(ns)"
    }()

    /// True for an owner `<this host and pid namespace>:<pid>` whose process no longer exists,
    /// or has ended and waits only to be reaped by its parent (a zombie).
    static func isDeadLocalProcess(_ owner: String) -> Bool {
        guard let colon = owner.lastIndex(of: ":"), owner[..<colon] == localPlace,
              let pid = Int32(owner[owner.index(after: colon)...]), pid > 0, pid != getpid() else { return false }
        if kill(pid, 0) != 0 { return errno == ESRCH }
        return isZombie(pid)
    }

    /// Whether the process has ended but was not reaped yet: it still answers `kill(pid, 0)`,
    /// though it runs nothing. Where the parent reaps late or never (a container whose first
    /// process does not reap), a killed worker would otherwise keep its projections from every
    /// other process until its lease ran out. Read from `/proc/<pid>/stat` (state `Z` or `X`);
    /// false where that cannot be read (macOS has no `/proc`: there a zombie counts as alive
    /// until it is reaped or its lease runs out, as before).
    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: end)...].first { $0 != " " }
        return state == "Z" || state == "X"
    }

    /// Gives up the effect projections this runner owns, so another process can take them
    /// over at once (`runLive` does this when it ends).
    public func release() async {
        // A renewal still running beside a sink call that did not end (one that ignores its
        // cancellation) took the lease back after it was given up, for as long as the call
        // hung: stopped first, and waited for (a renewal is one short write).
        let running = renewals.withLock { r in
            defer { r.tasks.removeAll() }
            return Array(r.tasks.values)
        }
        for renewal in running { renewal.cancel() }
        for renewal in running { await renewal.value }
        for name in effectProjections.map(\.name) {
            let ledger = self.ledger, owner = options.owner
            await Self.uncancelled { await ledger.releaseProjection(name, owner: owner) }
        }
        leases.withLock { $0.removeAll() }
    }
}
