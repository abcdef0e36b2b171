import Foundation
import LagoEngine
import Synchronization
import Testing

/// The bounded per-subscriber buffer of lifecycle changes: drops the oldest, never silently.
@Suite struct LifecycleBufferTests {
    func change(_ index: Int) -> EventLifecycleChange {
        EventLifecycleChange(
            transactionID: "tx-\(index)", stage: .queued, date: Date(timeIntervalSince1970: 0), eventID: Int64(index))
    }

    @Test func aFullBufferDropsTheOldestAndMarksTheNextChangeWithTheCount() {
        let buffer = LifecycleChangeBuffer(capacity: 3)
        #expect(buffer.append(contentsOf: (1...5).map(change)) == 2)
        #expect(buffer.droppedCount == 2)
        let (changes, finished) = buffer.takeAll()
        #expect(changes.map(\.transactionID) == ["tx-3", "tx-4", "tx-5"])
        #expect(changes.map(\.missedBefore) == [2, nil, nil])
        #expect(!finished)
        #expect(buffer.takeAll().changes.isEmpty, "taken once")
    }

    @Test func aDroppedChangeCarriesItsOwnCountOn() {
        // A relay (the control server, a remote engine) buffers changes that already carry a count.
        let buffer = LifecycleChangeBuffer(capacity: 2)
        var marked = change(1)
        marked.missedBefore = 10
        buffer.append(marked)
        buffer.append(contentsOf: [change(2), change(3)])
        let changes = buffer.takeAll().changes
        #expect(changes.map(\.transactionID) == ["tx-2", "tx-3"])
        #expect(changes.first?.missedBefore == 11, "the 10 it carried and itself")
    }

    @Test func theStreamDeliversInOrderThenEndsAndReportsItsEnd() async {
        let buffer = LifecycleChangeBuffer(capacity: 2)
        let ended = Atomic<Int>(0)
        var stream: AsyncStream<EventLifecycleChange>? = buffer.makeStream { ended.add(1, ordering: .relaxed) }
        buffer.append(contentsOf: (1...4).map(change))
        buffer.finish()
        buffer.append(change(9))  // after the end: not kept
        var received: [EventLifecycleChange] = []
        for await change in stream! { received.append(change) }
        #expect(received.map(\.transactionID) == ["tx-3", "tx-4"])
        #expect(received.map(\.missedBefore) == [2, nil])
        stream = nil
        #expect(ended.load(ordering: .relaxed) == 1)
    }

    @Test func aWaitingConsumerGetsTheNextChangeAndCancellingItEndsTheStream() async {
        let buffer = LifecycleChangeBuffer(capacity: 4)
        let stream = buffer.makeStream {}
        let first = Task {
            var iterator = stream.makeAsyncIterator()
            return await iterator.next()
        }
        buffer.append(change(1))
        #expect(await first.value?.transactionID == "tx-1")
        let waiting = Task { await buffer.next() }
        waiting.cancel()
        #expect(await waiting.value == nil)
    }
}
