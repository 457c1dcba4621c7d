import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces

/// A corpus of real-format FAKE secrets (formats after the gitleaks / trufflehog rules), each assembled at run time
/// so no scanner mistakes the test source for a leak. Every one must be gone after redaction, in every encoding.
@Suite("Hostile input: the redaction corpus")
struct RedactionCorpusTests {
    static func rep(_ s: String, _ n: Int) -> String { String(repeating: s, count: n) }

    /// (kind expected in the report, text around the secret, the secret itself)
    static let corpus: [(String, String, String)] = {
        var c: [(String, String, String)] = []
        func add(_ kind: String, _ before: String, _ secret: String, _ after: String = " end") { c.append((kind, before + secret + after, secret)) }
        add("api_key", "OPENAI_API_KEY=", "sk-" + "proj-" + rep("Ab3x", 10))
        add("api_key", "export KEY_", "sk-" + rep("Zz9Q", 6), "")  // glued: …_sk-…
        add("api_key", "anthropic ", "sk-" + "ant-api03-" + rep("kT4w", 8))
        add("bearer_token", "Authorization: Bearer ", "eyJraWQi" + rep("Q1w2", 6))
        add("aws_access_key_id", "id ", "AK" + "IA" + "IOSFODNN7" + "EXAMPLE")
        add("aws_secret_access_key", "aws_secret_access_key = ", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY")
        add("github_token", "token: ", "gh" + "p_" + rep("aB1c", 9))
        add("github_token", "GH=", "github_" + "pat_" + rep("11ABCDEFG", 4) + "_" + rep("xY9", 10))
        add("gitlab_token", "GITLAB=", "gl" + "pat-" + rep("a1B2c3D4e5", 2))
        add("google_api_key", "maps key=", "AI" + "za" + "SyD" + rep("x7Yq", 8))
        add("slack_token", "SLACK_BOT_TOKEN=", "xo" + "xb-" + "153445930147-" + "Tjy11gGxUW6Cf99YOYwtzG0K")
        add("slack_token", "user ", "xo" + "xp-" + "893582989554-899326518131-" + rep("JRHe", 5))
        add("jwt", "cookie=", "ey" + "JhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" + ".ey" + "JzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ" + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
        add("url_password", "DATABASE_URL=postgres://admin:", "S3cr3tPassw0rd", "@db.internal:5432/app")
        add("url_password", "clone https://deploy:", "hunter2hunter2", "@git.example.com/repo.git")
        add("basic_auth", "Authorization: Basic ", "dXNlcjpwYXNzd29yZDEyMw==")
        add("api_key_header", "x-api-key: ", rep("9f8e7d6c", 4))
        add("api_key_header", "{\"X-API-KEY\": \"", rep("Zx81", 6), "\"}")
        add("stripe_key", "stripe ", "sk" + "_live_" + rep("4eC39HqLyjWDarjtT1zdp7dc", 1))
        add("stripe_key", "restricted ", "rk" + "_live_" + rep("51H8bQ2", 4))
        add("huggingface_token", "HF_TOKEN=", "hf" + "_" + rep("AbCdEfGhIj", 3) + "KlMn")
        add("password", "password=", "CorrectHorse9", "&user=x")
        add("password", "db passwd: ", "Tr0ub4dor&3".replacingOccurrences(of: "&", with: "x"))
        add("password", "client_secret = \"", "c5f1e2a9b8d7", "\"")
        add("password", "SECRET=", "s3cr3t-v4lue-99")
        let pemBody = (0..<6).map { _ in rep("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", 2) }.joined(separator: "\n")
        add("private_key", "key:\n", "-----BEGIN " + "PRIVATE KEY-----\n" + pemBody + "\n-----END " + "PRIVATE KEY-----")
        // Cut off before its END line (a truncated paste, a log line limit).
        add("private_key", "partial:\n", "-----BEGIN RSA " + "PRIVATE KEY-----\n" + pemBody, "\n")
        // The same inside a JSON string: newlines are `\n` escapes.
        add("private_key", "{\"key\": \"", "-----BEGIN " + "PRIVATE KEY-----\\n" + pemBody.replacingOccurrences(of: "\n", with: "\\n"), "\"}")
        return c
    }()

    @Test("every secret of the corpus is redacted and counted under its kind", arguments: corpus)
    func redacted(_ kind: String, _ text: String, _ secret: String) throws {
        let r = try Redactor()
        let (out, report) = r.redact(text)
        #expect(!out.contains(secret), "\(kind): \(out)")
        #expect(report.counts[kind, default: 0] >= 1, "\(kind): \(report.counts)")
        // The part of a PEM body after the header, or the tail of a token, must not survive either.
        #expect(!out.contains(String(secret.suffix(16))), "\(kind): \(out)")
    }

    @Test("bytes that are not UTF-8 are redacted too: an invalid byte, Latin-1, UTF-16 with and without a BOM", arguments: corpus)
    func redactedInEveryEncoding(_ kind: String, _ text: String, _ secret: String) throws {
        let r = try Redactor()
        let tail = String(secret.suffix(12))
        let variants: [(String, Data, Data)] = [
            ("invalid byte", Data([0xFF, 0x20]) + Data(text.utf8) + Data([0xC3]), Data(tail.utf8)),
            ("a stray FF FE, then invalid UTF-8", Data([0xFF, 0xFE, 0x2D, 0x80, 0x20]) + Data(text.utf8), Data(tail.utf8)),
            ("latin-1", Data([0x63, 0x61, 0x66, 0xE9, 0x20]) + Data(text.utf8), Data(tail.utf8)),
            ("utf-16le bom", Data([0xFF, 0xFE]) + text.data(using: .utf16LittleEndian)!, tail.data(using: .utf16LittleEndian)!),
            ("utf-16be bom", Data([0xFE, 0xFF]) + text.data(using: .utf16BigEndian)!, tail.data(using: .utf16BigEndian)!),
            ("utf-16le", text.data(using: .utf16LittleEndian)!, tail.data(using: .utf16LittleEndian)!),
        ]
        for (name, bytes, needle) in variants {
            #expect(bytes.range(of: needle) != nil)
            var report = RedactionReport()
            let out = r.redact(bytes: bytes, report: &report)
            #expect(out.range(of: needle) == nil, "\(kind) as \(name) leaked")
            #expect(report.total >= 1, "\(kind) as \(name)")
        }
    }

    @Test("clean text in any encoding comes back byte for byte; ordinary prose is not redacted")
    func noFalseAlarms() throws {
        let r = try Redactor()
        for text in ["Basic understanding of git is enough.", "See https://example.com:8080/path and mail a@b.c",
                     "The secret is patience.", "pwd prints the folder", "skills-based routing", "a risk-free plan",
                     "the hf_ prefix", "Bearer of bad news", "api_key]"] {
            let (out, rep) = r.redact(text)
            #expect(out == text && rep.total == 0, "\(text) → \(out)")
        }
        let binary = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        #expect(r.redact(bytes: binary).0 == binary)
        let latin = Data([0x63, 0x61, 0x66, 0xE9])
        #expect(r.redact(bytes: latin).0 == latin)
    }

    @Test("a long single line is redacted in windows: secrets at its start, middle and end, and nowhere else touched")
    func longLine() throws {
        let r = try Redactor(extraPatterns: [RedactionPattern(kind: "internal_id", pattern: "ACME-[0-9]{6}")])
        let key = "sk-" + Self.rep("Lg7q", 8)
        let filler = Self.rep("lorem ipsum dolor sit amet ", 40_000)  // ~1 MB
        let text = key + " " + filler + " ghp_" + Self.rep("Mn3k", 9) + " " + filler + " ACME-123456 Bearer " + Self.rep("tok9", 5)
        let (out, report) = r.redact(text)
        #expect(!out.contains(key) && !out.contains("ACME-123456") && !out.contains(Self.rep("tok9", 5)) && !out.contains(Self.rep("Mn3k", 9)))
        #expect(report.counts == ["api_key": 1, "github_token": 1, "internal_id": 1, "bearer_token": 1])
        #expect(out.utf8.count == text.utf8.count - key.utf8.count - 4 * 9 - 4 - 11 - 20 + 4 * "[REDACTED:]".utf8.count + "api_keygithub_tokeninternal_idbearer_token".utf8.count)
    }

    @Test("span ids that hold a secret are replaced by a stable redacted id; feedback author and category are redacted")
    func ids() throws {
        let r = try Redactor()
        let key = "sk-" + Self.rep("Id5w", 6)
        var report = RedactionReport()
        let a = r.redactID(key, report: &report)
        #expect(a.hasPrefix("redacted-api_key-") && !a.contains(key) && a == r.redactID(key, report: &report))
        #expect(r.redactID("0123456789abcdef", report: &report) == "0123456789abcdef")
        let record = FeedbackRecord(
            feedbackID: "fb-" + key, traceID: key, source: .human, author: "bob " + key, category: "leak " + key, severity: .low,
            observation: "x", evidence: "", requiredObservations: [], prohibitedClaims: [], createdAt: "2026-01-01T00:00:00Z")
        let clean = FeedbackStage.redact(record, r, &report)
        for field in [clean.feedbackID, clean.traceID, clean.author, clean.category] { #expect(!field.contains(key), "\(field)") }
        #expect(clean.traceID == a)
    }
}
