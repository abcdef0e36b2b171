import LagoAPI

/// The shapes one JSON document of events comes in — `send --event`, each line of `send --file` and `check` read
/// them alike: a Lago event, `{"event": …}` (Lago's single-event body), `{"events": […]}` (its batch body), a usage
/// record in the Agent SDK's shape (no `code`, no `transaction_id`) or `{"records": […]}`.
enum EventDocument {
    /// The document's parts, each with its place for messages (`PLACE (event 2)` when there are several), and
    /// whether they are usage records rather than Lago events.
    static func parts(
        of document: JSONValue, place: String
    ) -> (parts: [(value: JSONValue, place: String)], usage: Bool) {
        func numbered(_ values: [JSONValue], _ noun: String) -> [(value: JSONValue, place: String)] {
            values.enumerated().map { ($1, values.count > 1 ? "\(place) (\(noun) \($0))" : place) }
        }
        guard let object = document.objectValue else { return ([(document, place)], false) }
        if case .array(let events)? = object["events"] { return (numbered(events, "event"), false) }
        if let single = object["event"] { return ([(single, place)], false) }
        if case .array(let records)? = object["records"] { return (numbered(records, "record"), true) }
        return ([(document, place)], object["code"] == nil && object["transaction_id"] == nil)
    }
}
