/// An argument a `JobEngine` call cannot take, refused before anything is read or written:
/// names the call, its parameter as the caller wrote it, what it must be and what it was. (An
/// argument the log itself refuses, a `submit`'s payload field, is `LedgerError.invalidPayload`.)
///
/// ```swift
/// do { try await engine.retry(job, attempts: 0) } catch let e as InvalidArgument {
///     print(e)   // retry(_:attempts:): 'attempts' must be in 1…1000, got 0
/// }
/// ```
public struct InvalidArgument: Error, Sendable, Hashable, CustomStringConvertible {
    /// The call refused, with its argument labels: `retry(_:attempts:)`.
    public let call: String
    /// The parameter refused, by its label: `attempts`.
    public let parameter: String
    /// What it must be, and what it was.
    public let reason: String

    /// A refusal of `parameter` of `call`, saying why.
    public init(call: String, parameter: String, reason: String) {
        self.call = call; self.parameter = parameter; self.reason = reason
    }

    /// `<call>: '<parameter>' <reason>`.
    public var description: String { "\(call): '\(parameter)' \(reason)" }
}
