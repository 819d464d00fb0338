import JobLedger
import JobLedgerServer
import Testing

/// `SubmitRequest`'s whole-number fields. The OpenAPI document declares `priority` and
/// `max_attempts` as JSON Schema integers, which `2.0` and `1e1` are (what Python's `json`
/// writes for a float that holds a whole number); they were refused with 422.
@Suite struct SubmitRequestTests {
    @Test func wholeNumbersWithAFractionOrExponentAreIntegers() throws {
        let r = try SubmitRequest(parsing: #"{"input":{},"priority":2.0,"max_attempts":1e1}"#, schema: nil)
        #expect(r.priority == 2 && r.maxAttempts == 10)
        let negative = try SubmitRequest(parsing: #"{"input":{},"priority":-5.0,"max_attempts":1.0}"#, schema: nil)
        #expect(negative.priority == -5 && negative.maxAttempts == 1)
    }

    @Test(arguments: [#""priority":2.5"#, #""priority":1e7"#, #""max_attempts":0.0"#, #""priority":true"#])
    func fractionsAndOutOfRangeValuesAreStillRefused(field: String) {
        #expect(throws: Problem.self) { try SubmitRequest(parsing: #"{"input":{},\#(field)}"#, schema: nil) }
    }
}
