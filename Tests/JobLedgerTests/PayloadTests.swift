import Testing
@testable import JobLedger

/// Runs `body` and returns the payload error it throws, or nil when it does not throw.
/// Any other error is recorded as an issue.
func payloadError(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> PayloadError? {
    do {
        try body()
        return nil
    } catch let e as PayloadError {
        return e
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

func decodeError(_ type: EventType, _ text: String) -> PayloadError? {
    payloadError { _ = try EventPayload.decode(type: type, text: text) }
}

struct PayloadSample: Sendable, CustomTestStringConvertible {
    let name: String
    let payload: EventPayload
    var testDescription: String { name }
}

let payloadSamples: [PayloadSample] = [
    .init(name: "queued minimal", payload: .queued(.init(kind: "resize"))),
    .init(name: "queued full", payload: .queued(.init(
        kind: "thumbnail", input: .object(["url": .string("https://x/y.png"), "sizes": .array([.int(64), .int(128)]), "q": .double(0.85)]),
        priority: -7, maxAttempts: 10, runAt: Timestamp(milliseconds: 1_764_374_648_123)))),
    .init(name: "queued array input", payload: .queued(.init(kind: "k", input: .array([.string("a\n\"b\""), .bool(false)]), priority: 1_000_000, maxAttempts: 1000))),
    .init(name: "started", payload: .started(.init(worker: "worker-7@host", attempt: 3, leaseDeadline: Timestamp(milliseconds: 1_764_374_708_000)))),
    .init(name: "progress no message", payload: .progress(.init(fraction: 0.1))),
    .init(name: "progress with message", payload: .progress(.init(fraction: 0.333, message: "décodage ✓"))),
    .init(name: "progress zero", payload: .progress(.init(fraction: 0))),
    .init(name: "progress one", payload: .progress(.init(fraction: 1))),
    .init(name: "lowres", payload: .lowres(.init(asset: previewAsset))),
    .init(name: "completed empty", payload: .completed(.init())),
    .init(name: "completed asset", payload: .completed(.init(asset: resultAsset))),
    .init(name: "completed asset+output", payload: .completed(.init(asset: resultAsset, output: .object(["w": .int(640), "h": .int(480)])))),
    .init(name: "completed output only", payload: .completed(.init(output: .string("done")))),
    .init(name: "failed", payload: .failed(.init(code: "E_IO", message: "disk\tfull", retryable: true, attempt: 2))),
    .init(name: "failed with retry_at", payload: .failed(.init(code: "E", message: "", retryable: false, attempt: 1000, retryAt: Timestamp(milliseconds: -1)))),
    .init(name: "failed with refunds_attempt", payload: .failed(.init(code: "worker_shutdown", message: "", retryable: true, attempt: 3, refundsAttempt: true))),
    .init(name: "canceled", payload: .canceled(.init(reason: "user asked"))),
    .init(name: "canceled empty reason", payload: .canceled(.init(reason: ""))),
]

@Suite("Event payloads")
struct PayloadTests {
    @Test("every event type has a sample")
    func samplesCoverEveryType() {
        #expect(Set(payloadSamples.map(\.payload.type)) == Set(EventType.allCases))
    }

    @Test("canonicalText round-trips through decode", arguments: payloadSamples)
    func roundTrip(_ sample: PayloadSample) throws {
        let text = sample.payload.canonicalText
        let decoded = try EventPayload.decode(type: sample.payload.type, text: text)
        #expect(decoded == sample.payload)
        #expect(decoded.canonicalText == text)
        // Also through the JSON form.
        #expect(try EventPayload.decode(type: sample.payload.type, json: sample.payload.json) == sample.payload)
    }

    @Test("canonical text of known payloads")
    func knownCanonicalText() {
        #expect(EventPayload.queued(.init(kind: "resize")).canonicalText
            == #"{"input":{},"kind":"resize","max_attempts":3,"priority":0}"#)
        #expect(EventPayload.started(.init(worker: "w", attempt: 1, leaseDeadline: Timestamp(milliseconds: 0))).canonicalText
            == #"{"attempt":1,"lease_deadline":"1970-01-01T00:00:00.000Z","worker":"w"}"#)
        #expect(EventPayload.progress(.init(fraction: 0.5, message: "m")).canonicalText == #"{"fraction":0.5,"message":"m"}"#)
        #expect(EventPayload.lowres(.init(asset: AssetRef(sha256: shaA, size: 3, contentType: "image/png"))).canonicalText
            == #"{"asset":{"content_type":"image/png","sha256":"\#(shaA)","size":3}}"#)
        #expect(EventPayload.completed(.init()).canonicalText == "{}")
        #expect(EventPayload.failed(.init(code: "c", message: "m", retryable: false, attempt: 2, retryAt: Timestamp(milliseconds: 1_000))).canonicalText
            == #"{"attempt":2,"code":"c","message":"m","retry_at":"1970-01-01T00:00:01.000Z","retryable":false}"#)
        #expect(EventPayload.canceled(.init(reason: "r")).canonicalText == #"{"reason":"r"}"#)
    }

    @Test("queued defaults: input {}, priority 0, max_attempts 3, no run_at")
    func queuedDefaults() throws {
        let p = try EventPayload.decode(type: .queued, text: #"{"kind":"resize"}"#)
        guard case .queued(let q) = p else { Issue.record("not queued: \(p)"); return }
        #expect(q.kind == "resize")
        #expect(q.input == .object([:]))
        #expect(q.priority == 0)
        #expect(q.maxAttempts == 3)
        #expect(q.runAt == nil)
        // Explicit values override the defaults.
        let p2 = try EventPayload.decode(type: .queued, text: #"{"kind":"k","input":[1],"priority":9,"max_attempts":1,"run_at":"2025-11-29T00:04:08.123Z"}"#)
        #expect(p2 == .queued(.init(kind: "k", input: .array([.int(1)]), priority: 9, maxAttempts: 1,
                                    runAt: Timestamp(milliseconds: 1_764_374_648_123))))
    }

    @Test("other optional fields take their defaults")
    func otherDefaults() throws {
        #expect(try EventPayload.decode(type: .failed, text: #"{"code":"c","retryable":true,"attempt":1}"#)
            == .failed(.init(code: "c", message: "", retryable: true, attempt: 1, retryAt: nil)))
        #expect(try EventPayload.decode(type: .failed, text: #"{"code":"c","retryable":true,"attempt":1,"refunds_attempt":false}"#)
            == .failed(.init(code: "c", message: "", retryable: true, attempt: 1, refundsAttempt: false)))
        #expect(try EventPayload.decode(type: .canceled, text: "{}") == .canceled(.init(reason: "")))
        #expect(try EventPayload.decode(type: .completed, text: "{}") == .completed(.init()))
        #expect(try EventPayload.decode(type: .progress, text: #"{"fraction":1}"#) == .progress(.init(fraction: 1)))
    }

    @Test("unknown fields are refused, naming the field")
    func unknownField() throws {
        let e = try #require(decodeError(.queued, #"{"kind":"k","colour":"red"}"#))
        #expect(e.type == .queued)
        #expect(e.reason.contains("'colour'"))
        #expect(e.description.contains("colour"))
        #expect(e.description.contains("queued"))

        let e2 = try #require(decodeError(.canceled, #"{"reason":"r","why":"x"}"#))
        #expect(e2.reason.contains("'why'"))

        let e3 = try #require(decodeError(.progress, #"{"fraction":0.5,"percent":50}"#))
        #expect(e3.reason.contains("'percent'"))

        // A field of another event type is unknown here.
        let e4 = try #require(decodeError(.started, #"{"worker":"w","attempt":1,"lease_deadline":"2025-01-01T00:00:00Z","kind":"k"}"#))
        #expect(e4.reason.contains("'kind'"))

        // Inside an asset too.
        let e5 = try #require(decodeError(.lowres, #"{"asset":{"sha256":"\#(shaA)","size":1,"content_type":"image/png","url":"x"}}"#))
        #expect(e5.reason.contains("asset.url"))
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        let type: EventType
        let text: String
        let says: String
        var testDescription: String { "\(type) \(text)" }
    }

    @Test("missing required fields are refused", arguments: [
        Bad(type: .queued, text: "{}", says: "missing field 'kind'"),
        Bad(type: .queued, text: #"{"kind":null}"#, says: "missing field 'kind'"),
        Bad(type: .started, text: #"{"attempt":1,"lease_deadline":"2025-01-01T00:00:00Z"}"#, says: "missing field 'worker'"),
        Bad(type: .started, text: #"{"worker":"w","lease_deadline":"2025-01-01T00:00:00Z"}"#, says: "missing field 'attempt'"),
        Bad(type: .started, text: #"{"worker":"w","attempt":1}"#, says: "missing field 'lease_deadline'"),
        Bad(type: .progress, text: #"{"message":"m"}"#, says: "missing field 'fraction'"),
        Bad(type: .lowres, text: "{}", says: "missing field 'asset'"),
        Bad(type: .failed, text: #"{"retryable":true,"attempt":1}"#, says: "missing field 'code'"),
        Bad(type: .failed, text: #"{"code":"c","attempt":1}"#, says: "missing field 'retryable'"),
        Bad(type: .failed, text: #"{"code":"c","retryable":false}"#, says: "missing field 'attempt'"),
    ])
    func missingFields(_ bad: Bad) throws {
        let e = try #require(decodeError(bad.type, bad.text))
        #expect(e.type == bad.type)
        #expect(e.reason.contains(bad.says), "\(e.reason)")
    }

    @Test("wrongly typed or out-of-range fields are refused", arguments: [
        Bad(type: .queued, text: #"{"kind":5}"#, says: "'kind' must be a string"),
        Bad(type: .queued, text: #"{"kind":""}"#, says: "'kind' must be 1…200 bytes"),
        Bad(type: .queued, text: #"{"kind":"\#(String(repeating: "k", count: 201))"}"#, says: "'kind' must be 1…200 bytes"),
        Bad(type: .queued, text: #"{"kind":"k","priority":"high"}"#, says: "'priority' must be a whole number"),
        Bad(type: .queued, text: #"{"kind":"k","priority":1.5}"#, says: "'priority' must be a whole number"),
        Bad(type: .queued, text: #"{"kind":"k","priority":1000001}"#, says: "'priority' must be in"),
        // Whole numbers too large to hold exactly are out of range, not "not whole" (1e+16 was).
        Bad(type: .queued, text: #"{"kind":"k","priority":1e16}"#, says: "'priority' must be in -1000000…1000000, got 1e+16"),
        Bad(type: .queued, text: #"{"kind":"k","max_attempts":-1e300}"#, says: "'max_attempts' must be in 1…1000"),
        Bad(type: .queued, text: #"{"kind":"k","max_attempts":0}"#, says: "'max_attempts' must be in 1…1000"),
        Bad(type: .queued, text: #"{"kind":"k","max_attempts":1001}"#, says: "'max_attempts' must be in 1…1000"),
        Bad(type: .queued, text: #"{"kind":"k","run_at":1764374648123}"#, says: "'run_at' must be an ISO-8601"),
        Bad(type: .queued, text: #"{"kind":"k","run_at":"tomorrow"}"#, says: "'run_at' must be an ISO-8601"),
        Bad(type: .started, text: #"{"worker":"w","attempt":0,"lease_deadline":"2025-01-01T00:00:00Z"}"#, says: "'attempt' must be in 1…1000"),
        Bad(type: .started, text: #"{"worker":"w","attempt":"1","lease_deadline":"2025-01-01T00:00:00Z"}"#, says: "'attempt' must be a whole number"),
        Bad(type: .started, text: #"{"worker":["w"],"attempt":1,"lease_deadline":"2025-01-01T00:00:00Z"}"#, says: "'worker' must be a string, got array"),
        Bad(type: .progress, text: #"{"fraction":"half"}"#, says: "'fraction' must be a number, got string"),
        Bad(type: .progress, text: #"{"fraction":0.5,"message":3}"#, says: "'message' must be a string, got number"),
        Bad(type: .failed, text: #"{"code":"c","retryable":"yes","attempt":1}"#, says: "'retryable' must be true or false, got string"),
        Bad(type: .failed, text: #"{"code":"c","retryable":1,"attempt":1}"#, says: "'retryable' must be true or false, got number"),
        Bad(type: .failed, text: #"{"code":"c","retryable":true,"attempt":1,"retry_at":true}"#, says: "'retry_at' must be an ISO-8601"),
        Bad(type: .canceled, text: #"{"reason":{}}"#, says: "'reason' must be a string, got object"),
        Bad(type: .lowres, text: #"{"asset":"abc"}"#, says: "'asset' must be an object"),
        Bad(type: .lowres, text: #"{"asset":{"sha256":"\#(shaA)","size":-1,"content_type":"image/png"}}"#, says: "'asset.size' must be a whole number"),
        Bad(type: .lowres, text: #"{"asset":{"sha256":"\#(shaA)","size":"1","content_type":"image/png"}}"#, says: "'asset.size' must be a whole number"),
        Bad(type: .lowres, text: #"{"asset":{"sha256":"\#(shaA)","size":1,"content_type":""}}"#, says: "'asset.content_type'"),
        Bad(type: .lowres, text: #"{"asset":{"sha256":"\#(shaA)","size":1}}"#, says: "'asset.content_type'"),
        Bad(type: .completed, text: #"{"asset":[]}"#, says: "'asset' must be an object"),
        Bad(type: .queued, text: "[]", says: "expected a JSON object, got array"),
        Bad(type: .canceled, text: "\"r\"", says: "expected a JSON object, got string"),
        Bad(type: .completed, text: "null", says: "expected a JSON object, got null"),
    ])
    func wrongTypes(_ bad: Bad) throws {
        let e = try #require(decodeError(bad.type, bad.text))
        #expect(e.type == bad.type)
        #expect(e.reason.contains(bad.says), "\(e.reason)")
    }

    @Test("bad sha256 is refused", arguments: [
        String(repeating: "A", count: 64),               // upper case
        String(repeating: "a", count: 63),               // too short
        String(repeating: "a", count: 65),               // too long
        String(repeating: "a", count: 63) + "g",         // not hex
        "",
    ])
    func badSHA(_ sha: String) throws {
        for type in [EventType.lowres, .completed] {
            let e = try #require(decodeError(type, #"{"asset":{"sha256":"\#(sha)","size":1,"content_type":"image/png"}}"#))
            #expect(e.reason.contains("'asset.sha256' must be 64 lowercase hex digits"))
        }
        let e = try #require(decodeError(.lowres, #"{"asset":{"sha256":5,"size":1,"content_type":"image/png"}}"#))
        #expect(e.reason.contains("sha256"))
    }

    @Test("a good sha256 is accepted")
    func goodSHA() throws {
        let p = try EventPayload.decode(type: .lowres, text: #"{"asset":{"sha256":"\#(shaB)","size":0,"content_type":"image/webp"}}"#)
        #expect(p == .lowres(.init(asset: AssetRef(sha256: shaB, size: 0, contentType: "image/webp"))))
    }

    @Test("malformed JSON text gives a PayloadError", arguments: [
        #"{"kind":"#, "", "{kind:1}", #"{"kind":"k",}"#, #"{"kind":"k"} x"#, #"{"kind":"k","kind":"j"}"#,
    ])
    func malformed(_ text: String) throws {
        let e = try #require(decodeError(.queued, text))
        #expect(e.type == .queued)
        #expect(e.reason.contains("malformed JSON"), "\(e.reason)")
    }

    @Test("EventType(name:) accepts the valid names and refuses others, listing the valid ones")
    func eventTypeNames() throws {
        for t in EventType.allCases {
            #expect(try EventType(name: t.rawValue) == t)
            #expect(t.description == t.rawValue)
        }
        #expect(EventType.allCases.map(\.rawValue) == ["queued", "started", "progress", "lowres", "completed", "failed", "canceled"])
        for bad in ["bogus", "Queued", "", " queued", "cancelled"] {
            let e = try #require(payloadError { _ = try EventType(name: bad) })
            #expect(e.type == nil)
            #expect(e.description.contains("'\(bad)'"))
            for t in EventType.allCases { #expect(e.description.contains(t.rawValue)) }
        }
    }

    @Test("payload type matches its case")
    func payloadTypes() {
        for s in payloadSamples {
            let name = s.name.split(separator: " ")[0]
            #expect(s.payload.type.rawValue == name)
        }
    }
}
