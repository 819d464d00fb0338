/// How broadcast streams are named: `<prefix><job id>`, by default `job:<id>`.
public struct StreamNaming: Sendable, Hashable {
    public var prefix: String
    public init(prefix: String = "job:") { self.prefix = prefix }
    public func stream(for job: JobID) -> String { prefix + job.rawValue }
}

/// An effect a projection makes on the outside world for one event.
public enum PlannedEffect: Sendable, Hashable {
    /// Publish a staged asset at its deterministic pathname (blob projection).
    case upload(seq: Int64, pathname: BlobPathname)
    /// Send a message to a stream (broadcast projection).
    case broadcast(seq: Int64, publication: Publication)

    public var seq: Int64 {
        switch self {
        case .upload(let s, _), .broadcast(let s, _): s
        }
    }
}

/// The projections' pure fold: from events in log order to every job's row (the job-state
/// projection) and the effects the blob and broadcast projections make, in order. The replay
/// tool runs it over a log; the projection runner makes the same decisions one event at a
/// time, so a rebuilt projection equals the stored one.
public struct ReplayFold: Sendable {
    public var streams: StreamNaming
    /// Known URLs by blob pathname (from a stored blob projection).
    public var urls: [String: String]
    /// What an artefact without a known URL is shown as: nil (as the live projections store
    /// it, which `replay --check` needs), or its pathname (what a dry run would have
    /// published it as).
    public var showsPathnames: Bool
    public private(set) var fold = LedgerFold()
    public private(set) var rows: [JobID: JobRow] = [:]

    public init(streams: StreamNaming = StreamNaming(), urls: [String: String] = [:], showsPathnames: Bool = false) {
        self.streams = streams
        self.urls = urls
        self.showsPathnames = showsPathnames
    }

    public var lastSeq: Int64 { fold.lastSeq }

    /// The URL of a job's artefact: the published one when known.
    public func url(_ pathname: BlobPathname) -> String? {
        let p = pathname.description
        return urls[p] ?? (showsPathnames ? p : nil)
    }

    /// Folds one event; returns the job's new state, its row and the effects, in the order
    /// they are made (an upload before the message that links to it).
    @discardableResult
    public mutating func apply(seq: Int64, job: JobID, payload: EventPayload, at time: Timestamp) throws(LifecycleError) -> (state: JobState, row: JobRow, effects: [PlannedEffect]) {
        let state = try fold.apply(job: job, payload: payload, at: time, seq: seq)
        let (row, effects) = Self.project(seq: seq, payload: payload, state: state, streams: streams, url: url)
        rows[job] = row
        return (state, row, effects)
    }

    /// What the projections make of one event, given the job's state after it.
    public static func project(seq: Int64, payload: EventPayload, state: JobState, streams: StreamNaming,
                               url: (BlobPathname) -> String?) -> (row: JobRow, effects: [PlannedEffect]) {
        let paths = state.artefactPathnames
        let preview = paths.preview.flatMap(url)
        let result = paths.result.flatMap(url)
        var effects: [PlannedEffect] = []
        if let (role, asset) = payload.publishedAsset {
            effects.append(.upload(seq: seq, pathname: BlobPathname(job: state.id, role: role, asset: asset)))
        }
        let message = BroadcastMessage(event: payload.type, seq: seq, state: state, previewURL: preview, resultURL: result)
        effects.append(.broadcast(seq: seq, publication: Publication(stream: streams.stream(for: state.id), message: message)))
        return (JobRow(state: state, previewURL: preview, resultURL: result), effects)
    }
}
