@testable import JobLedger
import Testing

/// The fast canonical writer must produce exactly the text of the generic JSON encoder: the
/// log's payload digests (and so the hash chain) depend on every byte.
@Suite struct CanonicalWriterTests {
    static let asset = AssetRef(sha256: String(repeating: "ab", count: 32), size: 1234, contentType: "image/png")
    static let t = Timestamp(milliseconds: 1_795_000_000_123)
    static let payloads: [EventPayload] = [
        .queued(.init(kind: "design", input: ["prompt": "a \"quoted\" cat\n", "size": 512, "tags": ["a", "é", "😀"], "zz": ["nested": true]], priority: -3, maxAttempts: 7, runAt: t)),
        .queued(.init(kind: "k")),
        .started(.init(worker: "w\t1", attempt: 2, leaseDeadline: t)),
        .progress(.init(fraction: 0.25, message: "step \\ one")),
        .progress(.init(fraction: 1)),
        .progress(.init(fraction: 1e-7)),
        .lowres(.init(asset: asset)),
        .completed(.init()),
        .completed(.init(asset: asset, output: ["w": 1.5, "ok": false, "none": .null])),
        .failed(.init(code: "render_timeout", message: "", retryable: true, attempt: 1, retryAt: t)),
        .failed(.init(code: "bad", message: "unicode \u{1}", retryable: false, attempt: 3)),
        .failed(.init(code: "worker_shutdown", message: "", retryable: true, attempt: 2, retryAt: t, refundsAttempt: true)),
        .canceled(.init(reason: "user asked")),
    ]

    @Test(arguments: payloads)
    func sameTextAsTheGenericEncoder(payload: EventPayload) throws {
        #expect(payload.canonicalText == payload.json.canonicalText)
        #expect(try EventPayload.decode(type: payload.type, text: payload.canonicalText).canonicalText == payload.canonicalText)
    }
}
