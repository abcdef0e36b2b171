/// A kind of usage the console reports to Lago, each billed through its own billable metric.
///
/// The raw value is the key of the field under `[metric_codes]` in the config file. `allCases` lists the fields in
/// the order the console shows them.
public enum CanonicalField: String, CaseIterable, Sendable, Codable, CodingKeyRepresentable {
    /// Prompt (input) tokens that were not read from a cache.
    case input
    /// Completion (output) tokens.
    case output
    /// Input tokens served from the provider's prompt cache.
    case cacheRead = "cache_read"
    /// Tokens written to the prompt cache, when the provider does not split them by lifetime.
    case cacheWrite = "cache_write"
    /// Tokens written to a prompt cache entry that lives five minutes.
    case cacheWrite5m = "cache_write_5m"
    /// Tokens written to a prompt cache entry that lives one hour.
    case cacheWrite1h = "cache_write_1h"
    /// Tokens the model spent on reasoning.
    case reasoning
    /// Tool (function) calls the model made.
    case toolCalls = "tool_calls"
    /// Input tokens that came from images.
    case imageInput = "image_input"
    /// Input tokens that came from audio.
    case audioInput = "audio_input"

    /// The billable metric code used for this field when the config file does not name one.
    public var defaultMetricCode: String {
        switch self {
        case .input: "llm_input_tokens"
        case .output: "llm_output_tokens"
        case .cacheRead: "llm_cached_input_tokens"
        case .cacheWrite: "llm_cache_creation_tokens"
        case .cacheWrite5m: "llm_cache_write_5m_tokens"
        case .cacheWrite1h: "llm_cache_write_1h_tokens"
        case .reasoning: "llm_reasoning_tokens"
        case .toolCalls: "llm_tool_calls"
        case .imageInput: "llm_image_input_tokens"
        case .audioInput: "llm_audio_input_tokens"
        }
    }
}
