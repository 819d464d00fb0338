import Foundation
import Hummingbird
import JobLedger
import JobLedgerSQLite
import Logging

extension JobLedgerServer {
    /// Whether the server can take work, and why not: `/readyz`'s answer, with the hash
    /// chain's standing (which does not make it unready: see `ChainWatch`).
    /// A fault is the engine's, the projections' or, on a node whose engine runs no workers,
    /// the one the server's own requests met (`StorageWatch`).
    func readiness(logger: Logger) -> (ready: Bool, body: [String: JSONValue]) {
        var answer: (ready: Bool, body: [String: JSONValue])
        if let f = engine.storageFault ?? runner?.storageFault ?? storageWatch.current(logger: logger) {
            answer = (false, Self.paused(f.fault, since: f.since))
        } else if engine.isDraining {
            answer = (false, ["status": "draining"])
        } else if let behind = projectionsBehind() {
            answer = (false, ["status": "catching_up", "lag": .object(behind.mapValues { .int($0) })])
        } else {
            answer = (true, ["status": "ready"])
        }
        answer.body["chain"] = chainStanding()
        return answer
    }

    /// `/readyz`'s answer while the log's storage is paused: the fault's kind (`full`, `io`,
    /// `read_only`, `vanished`) and since when. Not the fault's text: it names the log's path on
    /// the server and the free space there, and `/readyz` needs no token (the text is in the
    /// server's log, and in the 503s of the requests that met it).
    static func paused(_ fault: StorageFault, since: Timestamp) -> [String: JSONValue] {
        ["status": "paused", "storage_fault": .string(fault.kind.rawValue), "since": .string(since.iso8601)]
    }

    /// The hash chain as the last verification left it, without verifying anything: `verified`
    /// (through a seq), `broken` (at a seq), `rules_removed` (the events verify, but integrity
    /// rules were dropped from the file), `unreadable` or `unchecked`; with `removed_rules`,
    /// their kinds and names (`trigger events_no_update`), whenever some are gone. No problem
    /// text: it may name a job, and `/readyz` needs no token (the rules' names are fixed words).
    func chainStanding() -> JSONValue {
        switch chain.latest {
        case .unchecked: return .object(["status": "unchecked"])
        case .unreadable: return .object(["status": "unreadable"])
        case .verdict(let v):
            var o: [String: JSONValue]
            if let at = v.brokenAt {
                o = ["status": "broken", "broken_at": .int(at), "verified_through": .int(at - 1)]
            } else {
                o = ["status": v.removedRules.isEmpty ? "verified" : "rules_removed", "verified_through": .int(v.head)]
            }
            if !v.removedRules.isEmpty { o["removed_rules"] = .array(v.removedRuleNames.map { .string($0) }) }
            return .object(o)
        }
    }

    /// `GET /healthz` (the process answers), `GET /readyz` (it can take work: the log's storage
    /// is not paused and the engine is not draining; and the hash chain's standing), `GET /metrics` (Prometheus text) and
    /// `GET /openapi.json`. None needs a token: they say nothing about any job. Probes and load
    /// balancers that send HEAD get the same status and headers (the router's HEAD routes).
    func addOperationRoutes(to router: Router<BasicRequestContext>) {
        router.get("healthz") { _, _ in
            JSONResponse.make(["status": "ok"])
        }
        router.get("readyz") { _, context in
            // Paused by a fault the server's requests met: when the next try is due, a write
            // tells whether it has cleared (nothing else on an API-only node would).
            await storageWatch.probeIfDue(ledger, logger: context.logger)
            let (ready, o) = readiness(logger: context.logger)
            return JSONResponse.make(.object(o), status: ready ? .ok : .serviceUnavailable)
        }
        router.get("metrics") { _, _ in
            var text = metrics.emitToString() + logGauges()
            // 0 while the chain verifies, and while every integrity rule is there (once it has been verified).
            if case .verdict(let v) = chain.latest {
                text += Self.gauge("jobledger_chain_broken_at_seq", help: "The seq of the first event the hash chain breaks at; 0 while it verifies.", [("", v.brokenAt ?? 0)])
                text += Self.gauge("jobledger_chain_rules_removed", help: "Integrity rules (triggers) missing from the log's file; 0 while all are there.", [("", Int64(v.removedRules.count))])
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(string: try ServerResources.text("openapi.json"))))
        }
    }
}

/// The files shipped with the target (`Resources/`): the OpenAPI document, the dashboard's
/// templates, script and style sheet.
public enum ServerResources {
    /// The folder they are in.
    static var folder: String {
        (Bundle.module.url(forResource: "Resources", withExtension: nil) ?? Bundle.module.bundleURL.appendingPathComponent("Resources")).path
    }

    /// A resource's text.
    public static func text(_ name: String) throws -> String {
        try String(contentsOfFile: folder + "/" + name, encoding: .utf8)
    }
}
