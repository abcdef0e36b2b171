public import ConsoleUI
public import Terminal

extension ConsoleEvent {
    /// The console event for one terminal input; `nil` for inputs the console has no key for (Insert).
    public init?(_ input: TerminalInput) {
        switch input {
        case .character(let character): self = .key(.char(character))
        case .control(let character): self = .key(.ctrl(character))
        case .enter: self = .key(.enter)
        case .escape: self = .key(.escape)
        case .tab: self = .key(.tab)
        case .backTab: self = .key(.backTab)
        case .backspace: self = .key(.backspace)
        case .delete: self = .key(.delete)
        case .insert: return nil
        case .up: self = .key(.up)
        case .down: self = .key(.down)
        case .left: self = .key(.left)
        case .right: self = .key(.right)
        case .home: self = .key(.home)
        case .end: self = .key(.end)
        case .pageUp: self = .key(.pageUp)
        case .pageDown: self = .key(.pageDown)
        case .function(let number): self = .key(.function(number))
        case .resize(let width, let height): self = .resize(width: width, height: height)
        }
    }
}
