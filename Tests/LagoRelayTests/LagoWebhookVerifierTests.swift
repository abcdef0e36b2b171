import Crypto
import CryptoExtras
import Foundation
import JWTKit
import LagoRelay
import Synchronization
import Testing

/// The webhook signature check (issue #15 point 2), with keys generated here: hmac over the raw body with the
/// organization's key, and RS256 JWTs whose `data` claim is the body, verified against the public key Lago serves.
@Suite struct LagoWebhookVerifierTests {
    static let body = Array(
        #"{"webhook_type":"events.errors","object_type":"events_errors","organization_id":"o","events_errors":{}}"#
            .utf8)

    struct Claims: JWTPayload {
        var data: String
        var iss: IssuerClaim
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static func hmac(_ body: [UInt8], key: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(key.utf8))))
            .base64EncodedString()
    }

    static func jwt(
        _ body: [UInt8], key: _RSA.Signing.PrivateKey, issuer: String = "https://api.getlago.com"
    )
        async throws -> String
    {
        let keys = await JWTKeyCollection().add(
            rsa: try JWTKit.Insecure.RSA.PrivateKey(backing: key), digestAlgorithm: .sha256)
        return try await keys.sign(Claims(data: String(decoding: body, as: UTF8.self), iss: IssuerClaim(value: issuer)))
    }

    /// Base64 of the PEM, as Lago's `GET /webhooks/public_key` answers.
    static func served(_ key: _RSA.Signing.PrivateKey) -> String {
        Data(key.publicKey.pemRepresentation.utf8).base64EncodedString()
    }

    static func refusal(
        _ verifier: LagoWebhookVerifier, body: [UInt8], algorithm: String?, signature: String?
    ) async
        -> String?
    {
        do {
            try await verifier.verify(body: body, algorithm: algorithm, signature: signature)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func hmacAcceptsTheOrganizationsSignatureAndRefusesATamperedBodyOrAWrongKey() async throws {
        let verifier = LagoWebhookVerifier(keys: LagoWebhookKeys(hmacKey: { "org-hmac-key" }, publicKey: nil))
        let good = Self.hmac(Self.body, key: "org-hmac-key")
        #expect(await Self.refusal(verifier, body: Self.body, algorithm: "hmac", signature: good) == nil)
        var tampered = Self.body
        tampered[tampered.count - 3] = UInt8(ascii: "x")
        #expect(
            await Self.refusal(verifier, body: tampered, algorithm: "hmac", signature: good)?.contains("match") == true)
        let wrongKey = Self.hmac(Self.body, key: "another-key")
        #expect(await Self.refusal(verifier, body: Self.body, algorithm: "hmac", signature: wrongKey) != nil)
        #expect(
            await Self.refusal(verifier, body: Self.body, algorithm: "hmac", signature: nil)?.contains(
                "no X-Lago-Signature") == true)
        #expect(await Self.refusal(verifier, body: Self.body, algorithm: "hmac", signature: "%%%") != nil)
        #expect(
            await Self.refusal(verifier, body: Self.body, algorithm: "md5", signature: good)?.contains("unknown")
                == true)
        let unset = LagoWebhookVerifier(keys: LagoWebhookKeys(hmacKey: { "" }, publicKey: nil))
        #expect(
            await Self.refusal(unset, body: Self.body, algorithm: "hmac", signature: good)?.contains(
                "lago.webhook_hmac_key") == true)
    }

    @Test func jwtVerifiesAgainstLagosPublicKeyAndTheBodyInItsDataClaim() async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let fetches = Atomic<Int>(0)
        let verifier = LagoWebhookVerifier(
            keys: LagoWebhookKeys(
                hmacKey: { nil },
                publicKey: {
                    fetches.add(1, ordering: .relaxed)
                    return Self.served(key)
                }, refetchInterval: .zero))
        let token = try await Self.jwt(Self.body, key: key)
        #expect(await Self.refusal(verifier, body: Self.body, algorithm: "jwt", signature: token) == nil)
        // Lago's default: no algorithm header means jwt.
        #expect(await Self.refusal(verifier, body: Self.body, algorithm: nil, signature: token) == nil)
        #expect(fetches.load(ordering: .relaxed) == 1, "the key is fetched once, then kept")
        // A valid token over another body: its data claim does not match the body sent.
        var other = Self.body
        other.append(UInt8(ascii: " "))
        #expect(
            await Self.refusal(verifier, body: other, algorithm: "jwt", signature: token)?.contains("data claim")
                == true)
        // Another issuer.
        let foreign = try await Self.jwt(Self.body, key: key, issuer: "https://evil.example")
        #expect(
            await Self.refusal(verifier, body: Self.body, algorithm: "jwt", signature: foreign)?.contains("issuer")
                == true)
        // Signed by another key: refetched once (Lago may have rotated), then refused.
        let before = fetches.load(ordering: .relaxed)
        let stranger = try await Self.jwt(Self.body, key: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        #expect(
            await Self.refusal(verifier, body: Self.body, algorithm: "jwt", signature: stranger)?.contains(
                "does not verify") == true)
        #expect(fetches.load(ordering: .relaxed) == before + 1)
        #expect(await Self.refusal(verifier, body: Self.body, algorithm: "jwt", signature: "not.a.jwt") != nil)
    }

    @Test func aRotatedKeyIsFetchedAgainOnceAndThenVerifies() async throws {
        let first = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let second = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let current = Mutex(Self.served(first))
        let verifier = LagoWebhookVerifier(
            keys: LagoWebhookKeys(hmacKey: { nil }, publicKey: { current.withLock { $0 } }, refetchInterval: .zero))
        #expect(
            await Self.refusal(
                verifier, body: Self.body, algorithm: "jwt", signature: try await Self.jwt(Self.body, key: first))
                == nil)
        current.withLock { $0 = Self.served(second) }
        #expect(
            await Self.refusal(
                verifier, body: Self.body, algorithm: "jwt", signature: try await Self.jwt(Self.body, key: second))
                == nil)
    }

    @Test func aPublicKeyServedAsDEROrPEMTextIsReadToo() async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let token = try await Self.jwt(Self.body, key: key)
        for served in [key.publicKey.derRepresentation.base64EncodedString(), key.publicKey.pemRepresentation] {
            let verifier = LagoWebhookVerifier(keys: LagoWebhookKeys(hmacKey: { nil }, publicKey: { served }))
            #expect(await Self.refusal(verifier, body: Self.body, algorithm: "jwt", signature: token) == nil)
        }
        let broken = LagoWebhookVerifier(keys: LagoWebhookKeys(hmacKey: { nil }, publicKey: { "bm90IGEga2V5" }))
        #expect(
            await Self.refusal(broken, body: Self.body, algorithm: "jwt", signature: token)?.contains(
                "not an RSA public key") == true)
    }

    @Test("A self-hosted Lago's issuer is read per webhook: after lago.api_url changes, the new origin's are taken")
    func theIssuersFollowTheLagoInUse() async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let origin = Mutex("http://lago-a.internal:3000")
        let verifier = LagoWebhookVerifier(
            keys: LagoWebhookKeys(
                hmacKey: { nil }, publicKey: { Self.served(key) },
                issuers: { [LagoWebhookVerifier.lagoCloudIssuer, origin.withLock { $0 }] }))
        let fromB = try await Self.jwt(Self.body, key: key, issuer: "http://lago-b.internal:3000")
        let refused = await Self.refusal(verifier, body: Self.body, algorithm: "jwt", signature: fromB)
        #expect(
            refused?.contains("issuer http://lago-b.internal:3000 is not Lago's") == true,
            "\(String(describing: refused))")
        origin.withLock { $0 = "http://lago-b.internal:3000" }
        #expect(await Self.refusal(verifier, body: Self.body, algorithm: "jwt", signature: fromB) == nil)
    }

    @Test func forgedJWTsDoNotRefetchTheKeyMoreThanOncePerInterval() async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let fetches = Atomic<Int>(0)
        let verifier = LagoWebhookVerifier(
            keys: LagoWebhookKeys(
                hmacKey: { nil },
                publicKey: {
                    fetches.add(1, ordering: .relaxed)
                    return Self.served(key)
                }, refetchInterval: .seconds(3600)))
        let stranger = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        for _ in 0..<5 {
            let forged = try await Self.jwt(Self.body, key: stranger)
            #expect(await Self.refusal(verifier, body: Self.body, algorithm: "jwt", signature: forged) != nil)
        }
        #expect(fetches.load(ordering: .relaxed) == 1, "fetched for the first webhook only")
        #expect(
            await Self.refusal(
                verifier, body: Self.body, algorithm: "jwt", signature: try await Self.jwt(Self.body, key: key)) == nil)
    }
}
