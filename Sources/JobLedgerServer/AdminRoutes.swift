import Hummingbird
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging

extension JobLedgerServer {
    /// Admin actions, each an event in the log like everything else (or, for a re-drive, the
    /// outbox's own re-drive): `POST /api/jobs/{id}/cancel`, `POST /api/jobs/{id}/retry`,
    /// `GET /api/projections`, `POST /api/projections/{name}/redrive`. 403 for non-admins.
    func addAdminRoutes(to router: Router<BasicRequestContext>) {
        router.post("api/jobs/:id/cancel") { request, context in
            let caller = try await admin(request)
            let state = try visibleJob(context, for: caller)
            // A job canceled already: 200 again (a repeated cancel is no error). One that
            // finished otherwise (before the call or during it): 409, nothing changed.
            try Self.checkCancelable(state)
            do { try await engine.cancel(state.id, reason: "canceled by \(caller.subject) through the API") } catch { throw Self.refusal(error) }
            let after = try await ledger.state(of: state.id) ?? state
            // Ready again only when a write was made: the job's `canceled` is in the log (a job
            // running in this process has it recorded later, when its handler returns).
            if !state.status.isTerminal, after.version > state.version { storageWatch.succeeded(logger: context.logger) }
            try Self.checkCancelable(after)
            // Not recorded yet (its handler runs here and stops first): 202, not a 200 that reads
            // as done. A server stopped before the handler returns never records it.
            return JSONResponse.make(try jobJSON(after), status: after.status.isTerminal ? .ok : .accepted)
        }
        router.post("api/jobs/:id/retry") { request, context in
            let caller = try await admin(request)
            let state = try visibleJob(context, for: caller)
            try Self.checkRetryable(state)
            do { try await engine.retry(state.id, attempts: 1) } catch {
                // Another retry (a second click, another admin) requeued it between the check and
                // the append, and the log refused this one: there is nothing left to retry.
                if let now = try? await ledger.state(of: state.id) { try Self.checkRetryable(now) }
                throw Self.refusal(error)
            }
            storageWatch.succeeded(logger: context.logger)
            return JSONResponse.make(try jobJSON(try await ledger.state(of: state.id) ?? state))
        }
        router.get("api/projections") { request, _ in
            _ = try await admin(request)
            return JSONResponse.make(.object(["projections": .array(try projectionHealth())]))
        }
        router.post("api/projections/:name/redrive") { request, context in
            _ = try await admin(request)
            guard let raw = context.parameters.get("name"), let name = ProjectionName(rawValue: raw),
                  ([ProjectionName.blob, .broadcast] + (runner?.effects ?? [])).contains(name) else {
                throw Problem.notFound("no effect projection named '\(Problem.quoted(context.parameters.get("name") ?? ""))'")
            }
            let n: Int
            do { n = try await ledger.redrive(name) } catch { throw Self.storage(error) }
            if n > 0 { storageWatch.succeeded(logger: context.logger) }  // nothing re-driven: nothing written
            return JSONResponse.make(.object(["projection": .string(name.rawValue), "redriven": .int(Int64(n))]))
        }
    }

    /// Refuses a cancel of a job that finished other than canceled (409 `already-finished`).
    static func checkCancelable(_ state: JobState) throws(Problem) {
        guard state.status.isTerminal, state.status != .canceled else { return }
        throw Problem(.conflict, "already-finished", "job \(state.id) already finished (\(state.status)); there is nothing to cancel")
    }

    /// Refuses a retry of a job that has not failed (409 `not-failed`).
    static func checkRetryable(_ state: JobState) throws(Problem) {
        guard state.status != .failed else { return }
        throw Problem(.conflict, "not-failed", "only a failed job can be retried; job \(state.id) is \(state.status)")
    }

    /// The caller, who must be an admin.
    func admin(_ request: Request) async throws(Problem) -> Principal {
        let c = try await caller(request)
        guard c.isAdmin else { throw Problem.forbidden("this needs the admin role") }
        return c
    }

    /// Each projection's standing: checkpoint, lag, pending, dead, next try, last error.
    func projectionHealth() throws -> [JSONValue] {
        let names = runner?.projections ?? [.jobs, .blob, .broadcast]
        let all: [ProjectionStatus]
        do { all = try ledger.projectionStatus(names) } catch { throw Self.storage(error) }
        return all.map { s in
            .object([
                "name": .string(s.name.rawValue), "checkpoint": .int(s.checkpoint), "head": .int(s.head), "lag": .int(s.lag),
                "pending": .int(Int64(s.pending)), "dead": .int(Int64(s.dead)), "sent": .int(Int64(s.sent)),
                "next_attempt_at": s.nextAttemptAt.map { .string($0.iso8601) } ?? .null,
                "last_error": s.lastError.map { .string($0) } ?? .null, "owner": s.owner.map { .string($0) } ?? .null,
            ])
        }
    }
}
