import Foundation
import JobLedger

/// A job as the API returns it: the fields `jobledger jobs --json` prints, the owner, and the
/// published artefacts' URLs (local blobs as `/blobs/…` paths this server serves).
enum JobJSON {
    static func make(_ s: JobState, previewURL: String?, resultURL: String?) -> JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(s.id.rawValue), "kind": .string(s.kind), "state": .string(s.status.rawValue),
            "version": .int(Int64(s.version)), "attempt": .int(Int64(s.attempt)), "max_attempts": .int(Int64(s.maxAttempts)),
            "priority": .int(Int64(s.priority)), "progress": .double(s.progress), "input": s.input,
            "run_at": .string(s.runAt.iso8601), "created_at": .string(s.createdAt.iso8601), "updated_at": .string(s.updatedAt.iso8601),
            "owner": s.owner.map { .string($0) } ?? .null, "message": s.progressMessage.map { .string($0) } ?? .null,
            "preview_url": previewURL.map { .string($0) } ?? .null, "result_url": resultURL.map { .string($0) } ?? .null,
        ]
        if let w = s.worker { o["worker"] = .string(w) }
        if let p = s.preview { o["preview_sha256"] = .string(p.sha256) }
        if let r = s.result { o["result_sha256"] = .string(r.sha256) }
        if let out = s.output { o["output"] = out }
        if let e = s.lastError {
            o["error"] = .object(["code": .string(e.code), "message": .string(e.message), "retryable": .bool(e.retryable), "attempt": .int(Int64(e.attempt))])
        }
        if let r = s.cancelReason { o["cancel_reason"] = .string(r) }
        if let t = s.startedAt { o["started_at"] = .string(t.iso8601) }
        if let t = s.finishedAt { o["finished_at"] = .string(t.iso8601) }
        return .object(o)
    }
}
