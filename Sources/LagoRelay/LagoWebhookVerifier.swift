import Crypto
import CryptoExtras
import Foundation
import JWTKit
import Synchronization

/// Where the relay finds the keys that prove a webhook comes from Lago.
public struct LagoWebhookKeys: Sendable {
    /// The organization's HMAC key (`lago.webhook_hmac_key`), read per request; `nil` or empty refuses every
    /// `hmac`-signed webhook.
    public var hmacKey: @Sendable () -> String?
    /// Lago's answer to `GET /api/v1/webhooks/public_key` (base64 of the RSA public key's PEM or DER); fetched once,
    /// then again after a signature fails to verify (Lago may have rotated it). `nil` refuses `jwt`-signed webhooks.
    public var publicKey: (@Sendable () async throws -> String)?
    /// The issuers a `jwt` signature may name, read per webhook: Lago Cloud's `https://api.getlago.com`, and a
    /// self-hosted Lago's own origin (it follows a changed `lago.api_url`).
    public var issuers: @Sendable () -> Set<String>
    /// A signature that fails fetches the key again at most this often, so forged webhooks cannot make the relay
    /// spend Lago's rate limit.
    public var refetchInterval: Duration

    /// Creates the keys.
    public init(
        hmacKey: @escaping @Sendable () -> String?, publicKey: (@Sendable () async throws -> String)?,
        issuers: @escaping @Sendable () -> Set<String> = { [LagoWebhookVerifier.lagoCloudIssuer] },
        refetchInterval: Duration = .seconds(30)
    ) {
        self.hmacKey = hmacKey
        self.publicKey = publicKey
        self.issuers = issuers
        self.refetchInterval = refetchInterval
    }
}

/// Verifies the signature of a Lago webhook (`X-Lago-Signature-Algorithm`, `X-Lago-Signature`) over its raw body.
///
/// `hmac`: the signature is base64(HMAC-SHA256(organization HMAC key, raw body)). `jwt` (Lago's default): an RS256
/// JWT, signed with the organization's RSA key, whose `iss` is Lago's and whose `data` claim equals the raw body.
/// Crypto is swift-crypto's and jwt-kit's.
public final class LagoWebhookVerifier: Sendable {
    /// The issuer Lago Cloud puts in its webhook JWTs.
    public static let lagoCloudIssuer = "https://api.getlago.com"

    /// Why a webhook was refused, in words for the log (the sender only gets 401).
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// The reason.
        public let description: String
    }

    private let keys: LagoWebhookKeys
    /// The public key last fetched (base64 text as Lago sent it), its parsed collection, and when it was fetched.
    private let cached = Mutex<(text: String, keys: JWTKeyCollection, at: ContinuousClock.Instant)?>(nil)

    /// Creates a verifier over `keys`.
    public init(keys: LagoWebhookKeys) {
        self.keys = keys
    }

    /// Checks one webhook; returns normally when it is signed by Lago.
    /// - Throws: ``Refusal`` naming what is missing or wrong.
    public func verify(body: [UInt8], algorithm: String?, signature: String?) async throws {
        guard let signature, !signature.isEmpty else {
            throw Refusal(description: "the webhook has no X-Lago-Signature")
        }
        switch algorithm?.lowercased() ?? "jwt" {
        case "hmac": try verifyHMAC(body: body, signature: signature)
        case "jwt": try await verifyJWT(body: body, token: signature)
        case let other: throw Refusal(description: "unknown X-Lago-Signature-Algorithm \(other)")
        }
    }

    private func verifyHMAC(body: [UInt8], signature: String) throws {
        guard let key = keys.hmacKey(), !key.isEmpty else {
            throw Refusal(description: "an hmac-signed webhook arrived and lago.webhook_hmac_key is not set")
        }
        guard let code = Data(base64Encoded: signature.trimmingCharacters(in: .whitespaces)) else {
            throw Refusal(description: "the hmac signature is not base64")
        }
        let valid = HMAC<SHA256>.isValidAuthenticationCode(
            code, authenticating: body, using: SymmetricKey(data: Data(key.utf8)))
        guard valid else { throw Refusal(description: "the hmac signature does not match the body") }
    }

    /// The claims of Lago's webhook JWT.
    private struct LagoClaims: JWTPayload {
        var data: String
        var iss: IssuerClaim

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    private func verifyJWT(body: [UInt8], token: String) async throws {
        guard let fetch = keys.publicKey else {
            throw Refusal(description: "a jwt-signed webhook arrived and no Lago API is configured to fetch its key")
        }
        var refetched = false
        while true {
            let collection: JWTKeyCollection
            if let current = cached.withLock({ $0?.keys }), !refetched {
                collection = current
            } else {
                let text: String
                do {
                    text = try await fetch()
                } catch {
                    throw Refusal(description: "Lago's webhook public key could not be fetched: \(error)")
                }
                collection = try await Self.keyCollection(publicKey: text)
                cached.withLock { $0 = (text, collection, .now) }
            }
            let claims: LagoClaims
            do {
                claims = try await collection.verify(token, as: LagoClaims.self)
            } catch {
                // Lago may have a new key: fetch it once more before refusing (unless fetched just now).
                let fetchedAt = cached.withLock { $0?.at }
                if !refetched, fetchedAt.map({ ContinuousClock.now - $0 >= keys.refetchInterval }) ?? true {
                    refetched = true
                    continue
                }
                throw Refusal(description: "the jwt signature does not verify with Lago's public key")
            }
            guard keys.issuers().contains(claims.iss.value) else {
                throw Refusal(description: "the jwt's issuer \(claims.iss.value) is not Lago's")
            }
            guard Array(claims.data.utf8) == body else {
                throw Refusal(description: "the jwt's data claim does not match the body")
            }
            return
        }
    }

    /// Reads Lago's public key: base64 of a PEM text (what Lago serves) or of DER (SubjectPublicKeyInfo).
    static func keyCollection(publicKey text: String) async throws -> JWTKeyCollection {
        let compact = text.filter { !$0.isWhitespace }
        let key: JWTKit.Insecure.RSA.PublicKey
        do {
            if compact.hasPrefix("-----BEGIN") {
                key = try JWTKit.Insecure.RSA.PublicKey(pem: text)
            } else if let decoded = Data(base64Encoded: compact) {
                let pem = String(decoding: decoded, as: UTF8.self)
                if pem.hasPrefix("-----BEGIN") {
                    key = try JWTKit.Insecure.RSA.PublicKey(pem: pem)
                } else {
                    key = try JWTKit.Insecure.RSA.PublicKey(backing: _RSA.Signing.PublicKey(derRepresentation: decoded))
                }
            } else {
                throw Refusal(description: "Lago's webhook public key is neither base64 nor PEM")
            }
        } catch let refusal as Refusal {
            throw refusal
        } catch {
            throw Refusal(description: "Lago's webhook public key is not an RSA public key (\(error))")
        }
        return await JWTKeyCollection().add(rsa: key, digestAlgorithm: .sha256)
    }
}
