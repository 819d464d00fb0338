import Foundation
import Hummingbird
import JobLedger
import JobLedgerSQLite

extension JobLedgerServer {
    /// Whether the server can take work, and why not: `/readyz`'s answer.
    func readiness() -> (ready: Bool, body: [String: JSONValue]) {
        if let f = engine.storageFault ?? runner?.storageFault {
            return (false, ["status": "paused", "storage_fault": .string("\(f.fault)"), "since": .string(f.since.iso8601)])
        }
        if engine.isDraining { return (false, ["status": "draining"]) }
        return (true, ["status": "ready"])
    }

    /// `GET /healthz` (the process answers), `GET /readyz` (it can take work: the log's storage
    /// is not paused and the engine is not draining), `GET /metrics` (Prometheus text) and
    /// `GET /openapi.json`. None needs a token: they say nothing about any job. Probes and load
    /// balancers that send HEAD get the same status and headers (the router's HEAD routes).
    func addOperationRoutes(to router: Router<BasicRequestContext>) {
        router.get("healthz") { _, _ in
            JSONResponse.make(["status": "ok"])
        }
        router.get("readyz") { _, _ in
            let (ready, o) = readiness()
            return JSONResponse.make(.object(o), status: ready ? .ok : .serviceUnavailable)
        }
        router.get("metrics") { _, _ in
            var text = metrics.emitToString()
            if let head = try? ledger.head()?.seq ?? 0 {
                text += "# TYPE jobledger_log_head_seq gauge\njobledger_log_head_seq \(head)\n"
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
