import Foundation
public import LagoAPI
public import LagoIngest

/// A minimal version of Lago's billable-metric `expression` language.
///
/// Supported: decimal and string literals, `event.properties.<name>`, `event.code`, `event.timestamp`, `+ - * /`,
/// parentheses, unary minus, and the functions `round(x[, digits])`, `ceil(x[, digits])`, `floor(x[, digits])`,
/// `concat(a, b, …)`. At ingestion the result is stored in `properties[field_name]` as a decimal string (numbers)
/// or a string. A missing property fails the event with Lago's message, e.g.
/// `expression_evaluation_failed: Variable: b not found`.
public struct SandboxExpression: EventExpression, Hashable {
    /// The source text.
    public let source: String
    private let root: Node

    /// Why an expression could not be parsed or evaluated.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// Lago-style message, e.g. `Variable: b not found`.
        public var message: String
        public var description: String { message }
    }

    /// Parses an expression.
    /// - Throws: ``Failure`` when the text is not a valid expression (Lago answers `invalid_expression`).
    public init(_ source: String) throws {
        self.source = source
        var parser = Parser(tokens: try Self.tokenize(source))
        let node = try parser.parseExpression()
        guard parser.isAtEnd else { throw Failure(message: "Unexpected token") }
        self.root = node
    }

    /// Evaluates the expression for one event.
    /// - Throws: ``Failure`` with Lago's message (`Variable: <name> not found`, division by zero, type errors).
    public func evaluate(code: String, timestamp: Int64, properties: [String: JSONValue]) throws -> JSONValue {
        switch try root.evaluate(Context(code: code, timestamp: timestamp, properties: properties)) {
        case .number(let decimal): return .string(Self.format(decimal))
        case .text(let text): return .string(text)
        }
    }

    static func format(_ decimal: Decimal) -> String {
        var value = decimal
        var rounded = Decimal()
        NSDecimalRound(&rounded, &value, 15, .plain)
        return rounded.description
    }

    // MARK: - Tokens

    private enum Token: Hashable {
        case number(Decimal)
        case string(String)
        case identifier(String)
        case symbol(Character)
    }

    private static func tokenize(_ source: String) throws -> [Token] {
        var tokens: [Token] = []
        let characters = Array(source)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character.isWhitespace {
                index += 1
            } else if character.isNumber
                || (character == "." && index + 1 < characters.count && characters[index + 1].isNumber)
            {
                var text = ""
                while index < characters.count, characters[index].isNumber || characters[index] == "." {
                    text.append(characters[index])
                    index += 1
                }
                guard let decimal = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
                    throw Failure(message: "Invalid number: \(text)")
                }
                tokens.append(.number(decimal))
            } else if character == "\"" || character == "'" {
                let quote = character
                index += 1
                var text = ""
                while index < characters.count, characters[index] != quote {
                    text.append(characters[index])
                    index += 1
                }
                guard index < characters.count else { throw Failure(message: "Unterminated string") }
                index += 1
                tokens.append(.string(text))
            } else if character.isLetter || character == "_" {
                var text = ""
                while index < characters.count,
                    characters[index].isLetter || characters[index].isNumber || characters[index] == "_"
                        || characters[index] == "."
                {
                    text.append(characters[index])
                    index += 1
                }
                tokens.append(.identifier(text))
            } else if "+-*/(),".contains(character) {
                tokens.append(.symbol(character))
                index += 1
            } else {
                throw Failure(message: "Unexpected character: \(character)")
            }
        }
        return tokens
    }

    // MARK: - Syntax tree

    private indirect enum Node: Hashable, Sendable {
        case number(Decimal)
        case string(String)
        case property(String)
        case eventCode
        case eventTimestamp
        case negate(Node)
        case binary(Character, Node, Node)
        case call(String, [Node])

        func evaluate(_ context: Context) throws -> Value {
            switch self {
            case .number(let decimal): return .number(decimal)
            case .string(let text): return .text(text)
            case .eventCode: return .text(context.code)
            case .eventTimestamp: return .number(Decimal(context.timestamp / 1_000_000))
            case .property(let name):
                guard let value = context.properties[name], value != .null else {
                    throw Failure(message: "Variable: \(name) not found")
                }
                switch value {
                case .integer(let integer): return .number(Decimal(integer))
                case .bigInteger(let digits): return .number(Decimal(string: digits) ?? 0)
                case .number(let number): return .number(LagoDecimal(number).foundationDecimal)
                case .string(let text): return .text(text)
                case .bool(let flag): return .text(flag ? "true" : "false")
                default: return .text(value.jsonText)
                }
            case .negate(let node):
                return .number(-(try node.evaluate(context).decimal()))
            case .binary(let symbol, let lhs, let rhs):
                let left = try lhs.evaluate(context).decimal()
                let right = try rhs.evaluate(context).decimal()
                switch symbol {
                case "+": return .number(left + right)
                case "-": return .number(left - right)
                case "*": return .number(left * right)
                default:
                    guard right != 0 else { throw Failure(message: "Division by zero") }
                    return .number(left / right)
                }
            case .call(let name, let arguments):
                let values = try arguments.map { try $0.evaluate(context) }
                switch name {
                case "concat":
                    return .text(values.map(\.text).joined())
                case "round", "ceil", "floor":
                    guard (1...2).contains(values.count) else {
                        throw Failure(message: "Wrong number of arguments for \(name)")
                    }
                    var value = try values[0].decimal()
                    let digits = values.count == 2 ? NSDecimalNumber(decimal: try values[1].decimal()).intValue : 0
                    var result = Decimal()
                    let mode: NSDecimalNumber.RoundingMode = name == "round" ? .plain : name == "ceil" ? .up : .down
                    NSDecimalRound(&result, &value, digits, mode)
                    return .number(result)
                default:
                    throw Failure(message: "Unknown function: \(name)")
                }
            }
        }
    }

    private struct Context {
        var code: String
        var timestamp: Int64
        var properties: [String: JSONValue]
    }

    private enum Value {
        case number(Decimal)
        case text(String)

        func decimal() throws -> Decimal {
            switch self {
            case .number(let decimal): return decimal
            case .text(let text):
                guard let decimal = LagoDecimal(bigDecimal: text) else {
                    throw Failure(message: "Invalid number: \(text)")
                }
                return decimal.foundationDecimal
            }
        }

        var text: String {
            switch self {
            case .number(let decimal): return SandboxExpression.format(decimal)
            case .text(let text): return text
            }
        }
    }

    private struct Parser {
        var tokens: [Token]
        var index = 0

        var isAtEnd: Bool { index >= tokens.count }

        mutating func next() -> Token? {
            guard index < tokens.count else { return nil }
            defer { index += 1 }
            return tokens[index]
        }

        func peek() -> Token? {
            index < tokens.count ? tokens[index] : nil
        }

        mutating func parseExpression() throws -> Node {
            var node = try parseTerm()
            while case .symbol(let symbol)? = peek(), symbol == "+" || symbol == "-" {
                index += 1
                node = .binary(symbol, node, try parseTerm())
            }
            return node
        }

        mutating func parseTerm() throws -> Node {
            var node = try parseFactor()
            while case .symbol(let symbol)? = peek(), symbol == "*" || symbol == "/" {
                index += 1
                node = .binary(symbol, node, try parseFactor())
            }
            return node
        }

        mutating func parseFactor() throws -> Node {
            switch next() {
            case .number(let decimal)?:
                return .number(decimal)
            case .string(let text)?:
                return .string(text)
            case .symbol("-")?:
                return .negate(try parseFactor())
            case .symbol("(")?:
                let node = try parseExpression()
                guard case .symbol(")")? = next() else { throw Failure(message: "Expected )") }
                return node
            case .identifier(let name)?:
                if case .symbol("(")? = peek() {
                    index += 1
                    var arguments: [Node] = []
                    if case .symbol(")")? = peek() {
                        index += 1
                    } else {
                        while true {
                            arguments.append(try parseExpression())
                            switch next() {
                            case .symbol(",")?: continue
                            case .symbol(")")?: break
                            default: throw Failure(message: "Expected , or )")
                            }
                            break
                        }
                    }
                    guard ["round", "ceil", "floor", "concat"].contains(name) else {
                        throw Failure(message: "Unknown function: \(name)")
                    }
                    return .call(name, arguments)
                }
                if name.hasPrefix("event.properties."), name.count > "event.properties.".count {
                    return .property(String(name.dropFirst("event.properties.".count)))
                }
                if name == "event.code" { return .eventCode }
                if name == "event.timestamp" { return .eventTimestamp }
                throw Failure(message: "Unknown variable: \(name)")
            default:
                throw Failure(message: "Unexpected token")
            }
        }
    }
}
