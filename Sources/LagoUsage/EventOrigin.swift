/// Where an accepted event came from and what gave it its code: kept beside the event in the spool, carried on its
/// lifecycle changes, shown in the console's Events pane and counted per field in its Mappings pane.
public struct EventOrigin: Sendable, Hashable, Codable {
    /// The way the event reached lago-console.
    public enum Source: String, Sendable, Hashable, Codable, CaseIterable {
        /// A Lago event a client posted to the relay (`/api/v1/events`, `/api/v1/events/batch`).
        case relay
        /// A usage record posted to the relay's `POST /v1/usage`.
        case usage
        /// An OpenTelemetry GenAI span posted to the relay's `POST /v1/traces`.
        case otlp
        /// Made by lago-console itself: the console's test events and `lago-console send`.
        case console

        /// The word the console and `tail` show.
        public var word: String {
            switch self {
            case .relay: "relay"
            case .usage: "usage"
            case .otlp: "otlp"
            case .console: "console"
            }
        }
    }

    /// What gave the event its code.
    public enum Coding: Sendable, Hashable {
        /// The client wrote the code (a Lago event as sent).
        case client
        /// The live mapping of this canonical field (`[metric_codes]`), at the moment the record was accepted.
        case field(CanonicalField)
        /// `usage.cost_code`: the record's cost event.
        case cost

        /// The canonical field, or `cost`; `nil` for a client's code (as the spool stores it).
        public var storageText: String? {
            switch self {
            case .client: nil
            case .field(let field): field.rawValue
            case .cost: "cost"
            }
        }

        /// The coding a stored text names (`nil` or an unknown text: the client's).
        public init(storageText: String?) {
            switch storageText {
            case "cost"?: self = .cost
            case let text?: self = CanonicalField(rawValue: text).map(Coding.field) ?? .client
            case nil: self = .client
            }
        }
    }

    /// How the event arrived.
    public var source: Source
    /// What gave it its code.
    public var coding: Coding

    /// Creates an origin.
    public init(source: Source, coding: Coding = .client) {
        self.source = source
        self.coding = coding
    }

    enum CodingKeys: String, CodingKey {
        case source
        case field = "mapped_field"
    }

    /// Decodes `{"source": "otlp", "mapped_field": "input"}` (`mapped_field` absent: the client coded it).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        source = try container.decode(Source.self, forKey: .source)
        coding = Coding(storageText: try container.decodeIfPresent(String.self, forKey: .field))
    }

    /// Encodes as ``init(from:)`` reads.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(source, forKey: .source)
        try container.encodeIfPresent(coding.storageText, forKey: .field)
    }

    /// `otlp · input`, `relay`: the source and, when the mapping coded the event, the field it was coded by.
    public var summary: String {
        guard let field = coding.storageText else { return source.word }
        return "\(source.word) · \(field)"
    }
}
