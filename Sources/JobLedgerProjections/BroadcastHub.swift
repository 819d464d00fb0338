import JobLedger
import Synchronization

/// The embedded default `BroadcastSink`: delivers publications to subscribers in this process,
/// each as an async sequence, in the order they were delivered. A subscriber that falls more
/// than `bufferLimit` messages behind loses the oldest ones (the stream's newest state is in
/// every message, so it catches up with the next).
///
/// ```swift
/// let hub = BroadcastHub()
/// let runner = ProjectionRunner(ledger: ledger, broadcasts: hub)
/// Task { for await p in hub.subscribe(stream: "job:\(job)") { print(p.message.state, p.message.progress) } }
/// try await runner.runLive()
/// ```
///
/// Only code in the same process can subscribe; `jobledger tail` reads what was sent from the
/// log's outbox instead.
public final class BroadcastHub: BroadcastSink {
    private struct Subscriber {
        /// The streams it follows; nil for every stream.
        let streams: Set<String>?
        /// Hands it one publication.
        let yield: @Sendable (Publication) -> Void
        /// Ends its sequence.
        let finish: @Sendable () -> Void
    }
    private let subscribers = Mutex<[UInt64: Subscriber]>([:])
    private let nextID = Mutex<UInt64>(0)
    private let counter = Mutex<Int>(0)
    /// How many publications each subscriber may fall behind before it loses the oldest.
    public let bufferLimit: Int

    /// A hub with no subscribers yet.
    public init(bufferLimit: Int = 10_000) { self.bufferLimit = bufferLimit }

    /// Messages published from now on: to one stream, or to every stream when `stream` is nil.
    public func subscribe(stream: String? = nil) -> AsyncStream<Publication> {
        register(streams: stream.map { [$0] }, deadline: nil)
    }

    /// Like `subscribe(stream:)`, but the sequence ends by itself after `duration` (a server's
    /// stream that must not stay open forever). The deadline finishes the subscription itself,
    /// so no task stands between the hub and the reader.
    public func subscribe(stream: String? = nil, for duration: Duration) -> AsyncStream<Publication> {
        register(streams: stream.map { [$0] }, deadline: duration)
    }

    /// Messages published from now on to any of `streams`, ending by itself after `duration`
    /// (a server's stream of several jobs): the hub hands it only those streams' messages.
    public func subscribe(streams: Set<String>, for duration: Duration) -> AsyncStream<Publication> {
        register(streams: streams, deadline: duration)
    }

    /// Like `subscribe(streams:for:)` (nil: every stream), with a `nil` every `heartbeat` in
    /// between: what a server writes a keep-alive for, which is also how it finds a client that
    /// went away (the write fails) instead of holding the subscription until the deadline.
    public func subscribe(streams: Set<String>?, for duration: Duration, heartbeat: Duration) -> AsyncStream<Publication?> {
        register(streams: streams, deadline: duration, heartbeat: (heartbeat, Publication?.none)) { $0 }
    }

    private func register(streams: Set<String>?, deadline duration: Duration?) -> AsyncStream<Publication> {
        register(streams: streams, deadline: duration, heartbeat: nil) { $0 }
    }

    /// A new subscription, registered with its way out (leaving the hub when it ends) before a
    /// deadline can fire: however short the duration, the ended subscription leaves the hub.
    /// One timer task per subscription with a deadline or a heartbeat: it yields the heartbeat's
    /// `beat` every `every` and finishes the sequence at the deadline.
    private func register<Element: Sendable>(streams: Set<String>?, deadline duration: Duration?, heartbeat: (every: Duration, beat: Element)?,
                                             _ wrap: @escaping @Sendable (Publication) -> Element) -> AsyncStream<Element> {
        let id = nextID.withLock { $0 += 1; return $0 }
        let (sequence, continuation) = AsyncStream<Element>.makeStream(bufferingPolicy: .bufferingNewest(bufferLimit))
        let timer = DeadlineTask()
        continuation.onTermination = { [weak self] _ in
            timer.cancel()
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = Subscriber(streams: streams, yield: { continuation.yield(wrap($0)) }, finish: { continuation.finish() }) }
        guard duration != nil || heartbeat != nil else { return sequence }
        timer.start(Task {
            let clock = ContinuousClock()
            let end = duration.map { clock.now.advanced(by: $0) }
            while true {
                var wait = heartbeat?.every ?? .seconds(86_400)
                if let end { wait = min(wait, clock.now.duration(to: end)) }
                if wait > .zero {
                    do { try await Task.sleep(for: wait) } catch { return }  // the subscription ended first
                }
                if let end, clock.now >= end { break }
                if let heartbeat { continuation.yield(heartbeat.beat) }
            }
            continuation.finish()
        })
        return sequence
    }

    /// Publications delivered so far.
    public var deliveredCount: Int { counter.withLock { $0 } }

    /// Subscriptions open now (an ended one has left).
    public var subscriberCount: Int { subscribers.withLock { $0.count } }

    /// In this process: messages are handed over as their events are taken in.
    public var isInProcess: Bool { true }

    /// Hands each publication, in order, to the subscribers of its stream (and those of every
    /// stream). Never fails.
    public func deliver(_ publications: [Publication]) async throws(SinkError) {
        let current = subscribers.withLock { Array($0.values) }
        for p in publications {
            for s in current where s.streams?.contains(p.stream) ?? true { s.yield(p) }
        }
        counter.withLock { $0 += publications.count }
    }

    /// Ends every subscription.
    public func finish() {
        let all = subscribers.withLock { s in defer { s.removeAll() }; return Array(s.values) }
        for s in all { s.finish() }
    }
}

/// The timer of a subscription with a deadline or a heartbeat, cancelled when the subscription
/// ends first (even if that happens before the timer was stored).
private final class DeadlineTask: Sendable {
    private let state = Mutex<(task: Task<Void, Never>?, cancelled: Bool)>((nil, false))

    func start(_ task: Task<Void, Never>) {
        let cancelled = state.withLock { s in s.task = task; return s.cancelled }
        if cancelled { task.cancel() }
    }

    func cancel() {
        state.withLock { s in s.cancelled = true; return s.task }?.cancel()
    }
}
