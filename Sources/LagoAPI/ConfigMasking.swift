/// Renders secrets (the Lago API key, the relay token) so that an operator can tell which one is set without
/// the secret itself ever reaching a screen, a log or a bug report.
public enum ConfigMasking {
    /// What ``mask(_:)`` shows for an empty secret.
    public static let notSet = "(not set)"

    /// The characters shown in place of the hidden part of a secret.
    public static let bullets = "••••"

    /// Masks a secret, keeping at most its last four characters.
    ///
    /// `mask("sk_live_abcd1234")` is `••••1234`. A secret of eight characters or fewer is shown as `••••` alone,
    /// since its last four would give away half of it; an empty one is shown as `(not set)`.
    public static func mask(_ secret: String) -> String {
        if secret.isEmpty {
            return notSet
        }
        if secret.count <= 8 {
            return bullets
        }
        return bullets + String(secret.suffix(4))
    }
}
