import Foundation

/// One message addressed to one broadcast stream: what a `BroadcastSink` delivers.
public struct Publication: Sendable, Hashable {
    /// The stream the message goes to (by default `job:<id>`).
    public var stream: String
    /// The message (`message.text` is what goes over the wire).
    public var message: BroadcastMessage

    /// `message` addressed to `stream`.
    public init(stream: String, message: BroadcastMessage) {
        self.stream = stream
        self.message = message
    }
}

/// Why an outside system did not take an effect. `unavailable` is worth retrying (network
/// errors, timeouts, 5xx, 429); `rejected` is not (bad credentials, a malformed request):
/// it goes straight to the dead-letter state with a message that says what to fix.
/// Messages never carry secrets.
public enum SinkError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Try again later; no sooner than `retryAfterMilliseconds` when the sink said so.
    case unavailable(String, retryAfterMilliseconds: Int64? = nil)
    /// Retrying will not help until someone changes the configuration or the data.
    case rejected(String)

    /// The message, with the retry-after when there is one.
    public var description: String {
        switch self {
        case .unavailable(let m, let after):
            after.map { "\(m) (retry after \($0) ms)" } ?? m
        case .rejected(let m): m
        }
    }
}

/// Where job broadcasts go: AnyCable in production, an in-process hub by default.
/// `deliver` sends the publications in array order and returns once the sink has taken all of
/// them; when it throws, none of them counts as delivered (at-least-once: they are resent).
/// Give one to a `ProjectionRunner` (JobLedgerProjections) as `broadcasts:`.
///
/// ```swift
/// struct PrintingSink: BroadcastSink {
///     func deliver(_ publications: [Publication]) async throws(SinkError) {
///         for p in publications { print(p.stream, p.message.text) }
///     }
/// }
/// ```
///
/// `Docs/Broadcast.md` § Writing a sink has the rules (order, errors, batches).
public protocol BroadcastSink: Sendable {
    /// Sends the publications in order; throws `SinkError.unavailable` to have the batch tried
    /// again later, `.rejected` to make it dead letters at once.
    func deliver(_ publications: [Publication]) async throws(SinkError)
    /// The most publications the sink sends in one request, if it has a limit. The projection
    /// runner never hands it more at once, so a failed call never follows a partly delivered
    /// one (which would repeat earlier messages after later ones).
    var preferredBatchSize: Int? { get }
    /// How long a live projection may wait, after sending a partial batch, for more messages
    /// to fill the next one (a short linger batches bursts; nil sends at once).
    var linger: Duration? { get }
    /// Whether the subscribers are in this process (the hub), so that a delivery cannot fail
    /// and nothing of it survives a restart: each message is then handed over as its event is
    /// taken in, rather than on a second pass over the outbox
    /// (`EffectProjection.deliversAsTakenIn`).
    var isInProcess: Bool { get }
}

/// The defaults: no batch limit, no linger, not in process.
extension BroadcastSink {
    /// A sink elsewhere: delivered from the outbox, with retries.
    public var isInProcess: Bool { false }
    /// No limit: the runner's `deliveryBatch`.
    public var preferredBatchSize: Int? { nil }
    /// Send at once.
    public var linger: Duration? { nil }
}

/// What a blob store knows about one stored blob.
public struct BlobInfo: Sendable, Hashable {
    /// Where it is in the store (`jobs/<id>/final-….png`).
    public var pathname: String
    /// Where it can be fetched: what the job's row and broadcasts carry.
    public var url: String
    /// Its size in bytes.
    public var size: Int64
    /// Its content type.
    public var contentType: String

    /// A blob's description from its parts.
    public init(pathname: String, url: String, size: Int64, contentType: String) {
        self.pathname = pathname
        self.url = url
        self.size = size
        self.contentType = contentType
    }
}

/// Where job artefacts are published: Vercel Blob in production, a local folder by default.
/// `put` at the same pathname with the same bytes is idempotent and yields the same URL.
/// Give one to a `ProjectionRunner` (JobLedgerProjections) as `blobs:`; `LocalFolderBlobStore`
/// is the embedded default. Throw `SinkError.unavailable` for what is worth retrying,
/// `.rejected` for what is not.
public protocol BlobStore: Sendable {
    /// Stores `bytes` at `pathname` (overwriting) and returns the public URL.
    func put(pathname: String, bytes: Data, contentType: String) async throws(SinkError) -> BlobInfo
    /// The blob at `pathname`, or nil when there is none.
    func head(pathname: String) async throws(SinkError) -> BlobInfo?
    /// Every blob whose pathname starts with `prefix`, in pathname order.
    func list(prefix: String) async throws(SinkError) -> [BlobInfo]
    /// Removes the blob at `pathname`; removing a missing blob is not an error.
    func delete(pathname: String) async throws(SinkError)
    /// Removes the blobs at `pathnames` (a store with a batch API sends few requests); missing
    /// ones are not an error. Default: one `delete(pathname:)` after the other.
    func delete(pathnames: [String]) async throws(SinkError)
    /// The URL a blob at `pathname` has, or would have, in this store, known without asking it:
    /// what `replay` and `state` show for an artefact the log holds no URL for. Default: nil
    /// (the store cannot tell).
    func publicURL(for pathname: String) -> String?
}

extension BlobStore {
    /// One `delete(pathname:)` after the other.
    public func delete(pathnames: [String]) async throws(SinkError) {
        for p in pathnames { try await delete(pathname: p) }
    }

    /// Nil: the store cannot tell a URL without asking.
    public func publicURL(for pathname: String) -> String? { nil }
}
