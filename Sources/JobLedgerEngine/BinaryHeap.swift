/// A binary min-heap: the smallest element (by `<`) on top. Push and pop cost O(log n), the top
/// O(1). What the claim index keeps its queued jobs in.
struct BinaryHeap<Element: Comparable> {
    private(set) var elements: [Element] = []

    init() {}

    /// A heap of `elements`, built in O(n).
    init(_ elements: [Element]) {
        self.elements = elements
        var i = elements.count / 2
        while i > 0 { i -= 1; siftDown(i) }
    }

    var count: Int { elements.count }
    var isEmpty: Bool { elements.isEmpty }
    /// The smallest element, or nil when empty.
    var top: Element? { elements.first }

    mutating func push(_ e: Element) {
        elements.append(e)
        siftUp(elements.count - 1)
    }

    /// Removes and returns the smallest element.
    @discardableResult
    mutating func pop() -> Element? {
        guard !elements.isEmpty else { return nil }
        if elements.count == 1 { return elements.removeLast() }
        let top = elements[0]
        elements[0] = elements.removeLast()
        siftDown(0)
        return top
    }

    private mutating func siftUp(_ index: Int) {
        var i = index
        while i > 0 {
            let parent = (i - 1) / 2
            guard elements[i] < elements[parent] else { return }
            elements.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var i = index
        let n = elements.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < n, elements[l] < elements[smallest] { smallest = l }
            if r < n, elements[r] < elements[smallest] { smallest = r }
            guard smallest != i else { return }
            elements.swapAt(i, smallest)
            i = smallest
        }
    }
}
extension BinaryHeap: Sendable where Element: Sendable {}
