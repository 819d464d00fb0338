import JobLedger
import Testing

/// `asStored`: a payload as the log gives it back once stored, which is what the writer hands
/// a live runner in place of reading the event again.
@Suite struct StoredFormTests {
    static let values: [JSONValue] = [
        .double(5.0), .double(-0.0), .double(1.5), .double(1e15), .double(999_999_999_999_999.0), .double(-42.0),
        .double(1e-7), .double(123.456), .int(7), .null, .bool(true), .string("5.0"),
        .array([.double(2.0), .array([.double(3.0)]), .object(["x": .double(4.0)])]),
        .object(["n": .double(5.0), "nested": .object(["f": .double(0.25), "w": .double(8.0)]), "s": .string("a")]),
    ]

    @Test(arguments: values) func aValueAsStoredIsWhatItsCanonicalTextReadsBackAs(_ v: JSONValue) throws {
        let payloads: [EventPayload] = [
            .queued(.init(kind: "design", input: .object(["v": v]))),
            .completed(.init(output: .object(["v": v]), attempt: 1)),
        ]
        for p in payloads {
            let back = try EventPayload.decode(type: p.type, text: p.canonicalText, exactNumbers: false)
            #expect(p.asStored == back, "\(p.canonicalText)")
            #expect(p.asStored.canonicalText == p.canonicalText, "the same text either way")
        }
    }

    /// What the writer folds (each payload `asStored`) is the state a fold of the events read
    /// back gives; folded from the payloads as given, it is not.
    @Test func theFoldOfPayloadsAsStoredIsTheFoldOfThePayloadsReadBack() throws {
        let job = try JobID("job-1")
        let at = Timestamp(milliseconds: 1000)
        let given: [EventPayload] = [
            .queued(.init(kind: "design", input: ["n": .double(2.0)])),
            .started(.init(worker: "w", attempt: 1, leaseDeadline: Timestamp(milliseconds: 99_000))),
            .completed(.init(output: ["score": .double(9.0), "list": [.double(1.0)]], attempt: 1)),
        ]
        var asGiven: JobState?, asStored: JobState?, fromLog: JobState?
        for p in given {
            asGiven = try Lifecycle.apply(p, to: asGiven, job: job, at: at)
            asStored = try Lifecycle.apply(p.asStored, to: asStored, job: job, at: at)
            let back = try EventPayload.decode(type: p.type, text: p.canonicalText, exactNumbers: false)
            fromLog = try Lifecycle.apply(back, to: fromLog, job: job, at: at)
            #expect(asStored == fromLog)
        }
        #expect(asGiven != fromLog, "the state as given held doubles")
        #expect(fromLog?.output?["score"] == .int(9))
    }

    /// A `null` input or output reads back as absent: an empty input, no output.
    @Test func aNullInputOrOutputIsStoredAsAbsent() throws {
        for p in [EventPayload.queued(.init(kind: "design", input: .null)), .completed(.init(output: .null, attempt: 1))] {
            let back = try EventPayload.decode(type: p.type, text: p.canonicalText, exactNumbers: false)
            #expect(p.asStored == back, "\(p.canonicalText)")
        }
        #expect(EventPayload.queued(.init(kind: "design", input: .null)).asStored == .queued(.init(kind: "design", input: [:])))
        #expect(EventPayload.completed(.init(output: .null, attempt: 1)).asStored == .completed(.init(output: nil, attempt: 1)))
    }

    /// Nothing to change: the same value comes back (no copy of a large input for nothing).
    @Test func aValueWithNoWholeDoublesIsLeftAsItIs() {
        let v: JSONValue = ["prompt": "a red bicycle", "size": 512, "ratio": 1.5]
        #expect(v.asStored == v)
        #expect(EventPayload.progress(.init(fraction: 1.0, message: nil, attempt: 1)).asStored
                == .progress(.init(fraction: 1.0, message: nil, attempt: 1)))
    }
}
