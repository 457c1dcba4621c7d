import Foundation
import HTTP
import Testing
import TestSupport

@Suite("HTTPClient against a loopback server")
struct HTTPClientTests {
    let client = HTTPClient()

    @Test func getEchoesHeadersAndReturnsResponseHeaders() throws {
        let server = try ScriptedHTTPServer(steps: [
            .init(status: 200, headers: ["X-Answer": "42", "Content-Type": "text/plain"], body: "hello")
        ])
        defer { server.stop() }
        let response = try client.send(
            HTTPRequest(url: server.baseURL + "/greet?x=1", headers: ["X-Trace": "abc", "Accept": "text/plain"]))
        #expect(response.status == 200)
        #expect(response.text == "hello")
        #expect(response.headers["x-answer"] == "42")
        #expect(response.headers["CONTENT-TYPE"] == "text/plain")
        #expect(response.headers["Content-Length"] == "5")
        let seen = try #require(server.requests().first)
        #expect(seen.method == "GET")
        #expect(seen.path == "/greet?x=1")
        #expect(seen.headers["x-trace"] == "abc")
        #expect(seen.headers["user-agent"] == "flywheel/1")
        #expect(seen.headers["expect"] == nil)
    }

    @Test func postSendsBodyAndHeaders() throws {
        let server = try ScriptedHTTPServer(steps: [.echo()])
        defer { server.stop() }
        // Binary-safe, includes a NUL and non-ASCII, larger than curl's 1 KiB Expect threshold.
        let text = "héllo\u{0}wörld " + String(repeating: "z", count: 5000)
        let response = try client.send(
            HTTPRequest(
                method: "POST", url: server.baseURL + "/v1/echo",
                headers: ["Content-Type": "application/json", "Authorization": "Bearer t0k"],
                body: Data(text.utf8)))
        #expect(response.status == 200)
        let echo = try #require(try JSONSerialization.jsonObject(with: response.body) as? [String: Any])
        #expect(echo["method"] as? String == "POST")
        #expect(echo["path"] as? String == "/v1/echo")
        #expect(echo["body"] as? String == text)
        let headers = try #require(echo["headers"] as? [String: String])
        #expect(headers["content-type"] == "application/json")
        #expect(headers["authorization"] == "Bearer t0k")
        #expect(headers["content-length"] == String(Data(text.utf8).count))
    }

    @Test func putAndEmptyPostUseTheirMethods() throws {
        let server = try ScriptedHTTPServer(steps: [.echo(), .echo()])
        defer { server.stop() }
        _ = try client.send(HTTPRequest(method: "PUT", url: server.baseURL + "/a", body: Data("x".utf8)))
        _ = try client.send(HTTPRequest(method: "POST", url: server.baseURL + "/b"))
        let seen = server.requests()
        #expect(seen.map(\.method) == ["PUT", "POST"])
        #expect(seen.map(\.body) == ["x", ""])
    }

    @Test func errorStatusIsAResponseNotAnError() throws {
        let server = try ScriptedHTTPServer(steps: [.json(404, #"{"error":"no such thing"}"#)])
        defer { server.stop() }
        let response = try client.send(HTTPRequest(url: server.baseURL + "/missing"))
        #expect(response.status == 404)
        #expect(!response.isSuccess)
        #expect(response.text.contains("no such thing"))
    }

    @Test func connectionRefusedIsATransportError() throws {
        let server = try ScriptedHTTPServer(steps: [])
        let url = server.baseURL + "/"
        server.stop()
        let error = try #require(throws: HTTPError.self) { try client.send(HTTPRequest(url: url, connectTimeout: 2)) }
        #expect(error.kind == .couldNotConnect)
        #expect(error.curlCode == 7)
        #expect(error.isTransient)
        #expect(error.function == "curl_easy_perform")
        #expect(error.description.contains("127.0.0.1"))
    }

    @Test func timeoutEndsWithinItsBound() throws {
        let server = try ScriptedHTTPServer(steps: [.init(body: "late", delay: 5)])
        defer { server.stop() }
        let start = Date()
        let error = try #require(throws: HTTPError.self) {
            try client.send(HTTPRequest(url: server.baseURL + "/slow", timeout: 0.5))
        }
        let elapsed = Date().timeIntervalSince(start)
        #expect(error.kind == .timedOut)
        #expect(error.curlCode == 28)
        #expect(elapsed >= 0.4 && elapsed < 4.0, "took \(elapsed)s (the server answers after 5 s; loaded CI machines are slow)")
    }

    @Test(arguments: [false, true])
    func bodyOverTheLimitIsResponseTooLarge(announceLength: Bool) throws {
        // With an honest Content-Length libcurl refuses up front; with a lying small one the write
        // callback aborts once the limit is passed.
        let step: ScriptedHTTPServer.Step =
            announceLength
            ? .init(body: String(repeating: "x", count: 1000), repeatCount: 200)
            : .init(body: String(repeating: "x", count: 1000), repeatCount: 200, contentLength: 10_000_000)
        let server = try ScriptedHTTPServer(steps: [step])
        defer { server.stop() }
        let error = try #require(throws: HTTPError.self) {
            try client.send(HTTPRequest(url: server.baseURL + "/big", maxResponseBytes: 50_000))
        }
        #expect(error.kind == .responseTooLarge)
        #expect(!error.isTransient)
        #expect(error.message.contains("50000"))
    }

    @Test func bodyAtTheLimitIsAccepted() throws {
        let server = try ScriptedHTTPServer(steps: [.init(body: "0123456789", repeatCount: 100)])
        defer { server.stop() }
        let response = try client.send(HTTPRequest(url: server.baseURL + "/", maxResponseBytes: 1000))
        #expect(response.body.count == 1000)
    }

    @Test func truncatedBodyIsAnError() throws {
        let server = try ScriptedHTTPServer(steps: [.init(body: "only part of it", contentLength: 500)])
        defer { server.stop() }
        let error = try #require(throws: HTTPError.self) { try client.send(HTTPRequest(url: server.baseURL + "/")) }
        #expect(error.kind == .truncated)
        #expect(error.curlCode == 18)
        #expect(error.isTransient)
    }

    @Test func droppedConnectionIsTruncated() throws {
        let server = try ScriptedHTTPServer(steps: [.init(drop: true)])
        defer { server.stop() }
        let error = try #require(throws: HTTPError.self) { try client.send(HTTPRequest(url: server.baseURL + "/")) }
        #expect(error.kind == .truncated)
        #expect(error.curlCode == 52)
    }

    @Test func fileURLsWork() throws {
        let folder = TestPaths.scratch("http-file")
        let file = folder.appendingPathComponent("data.txt")
        try Data("file contents\n".utf8).write(to: file)
        let response = try client.send(HTTPRequest(url: file.absoluteString))
        #expect(response.text == "file contents\n")
        #expect(response.isSuccess)

        let missing = try #require(throws: HTTPError.self) {
            try client.send(HTTPRequest(url: folder.appendingPathComponent("nope.txt").absoluteString))
        }
        #expect(missing.curlCode == 37)
        #expect(missing.kind == .transport)
        #expect(!missing.message.isEmpty)
    }

    @Test func unsupportedSchemeIsInvalidRequest() throws {
        let error = try #require(throws: HTTPError.self) { try client.send(HTTPRequest(url: "gopher://127.0.0.1/x")) }
        #expect(error.kind == .invalidRequest)
        #expect(error.curlCode == 1)
    }

    @Test func errorsDoNotCarryQueryOrUserInfo() throws {
        let server = try ScriptedHTTPServer(steps: [])
        let url = "http://user:pa55word@127.0.0.1:\(server.port)/x?key=s3cret"
        server.stop()
        let error = try #require(throws: HTTPError.self) { try client.send(HTTPRequest(url: url)) }
        #expect(!error.description.contains("s3cret"))
        #expect(!error.description.contains("pa55word"))
    }

    @Test func redirectsAreFollowedOnlyWhenAsked() throws {
        let server = try ScriptedHTTPServer(steps: [
            .init(status: 302, headers: ["Location": "/target"]),
            .init(status: 302, headers: ["Location": "/target"]),
            .init(status: 200, headers: ["X-Final": "yes"], body: "arrived"),
        ])
        defer { server.stop() }
        let plain = try client.send(HTTPRequest(url: server.baseURL + "/start"))
        #expect(plain.status == 302)
        #expect(plain.headers["location"] == "/target")
        let followed = try client.send(HTTPRequest(url: server.baseURL + "/start", followRedirects: true))
        #expect(followed.status == 200)
        #expect(followed.text == "arrived")
        #expect(followed.headers["X-Final"] == "yes")
        #expect(followed.headers["Location"] == nil, "only the final response's headers remain")
        #expect(server.requests().map(\.path) == ["/start", "/start", "/target"])
    }

    @Test func headHasNoBody() throws {
        let server = try ScriptedHTTPServer(steps: [.init(headers: ["X-A": "1"], body: "ignored")])
        defer { server.stop() }
        let response = try client.send(HTTPRequest(method: "HEAD", url: server.baseURL + "/"))
        #expect(response.status == 200)
        #expect(response.body.isEmpty)
        #expect(response.headers["x-a"] == "1")
        #expect(server.requests().first?.method == "HEAD")
    }

    @Test func concurrentRequestsUseSeparateHandles() async throws {
        let server = try ScriptedHTTPServer(steps: [], default: .echo())
        defer { server.stop() }
        let base = server.baseURL
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<16 {
                group.addTask {
                    let r = try HTTPClient().send(HTTPRequest(method: "POST", url: base + "/n/\(i)", body: Data("body-\(i)".utf8)))
                    return (i, r.text)
                }
            }
            for try await (i, text) in group {
                #expect(text.contains("\"body\": \"body-\(i)\""))
                #expect(text.contains("/n/\(i)"))
            }
        }
        #expect(server.requests().count == 16)
    }

    @Test func headersLookupIsCaseInsensitiveAndKeepsOrder() {
        var h: HTTPHeaders = ["Content-Type": "a", "X-One": "1"]
        h.add("x-one", "2")
        #expect(h["X-ONE"] == "1")
        #expect(h.values(for: "X-One") == ["1", "2"])
        h["x-one"] = "3"
        #expect(h.values(for: "X-One") == ["3"])
        #expect(h.fields.map(\.name) == ["Content-Type", "x-one"])
        h["content-type"] = nil
        #expect(h.count == 1)
        #expect(h == HTTPHeaders([("X-ONE", "3")]))
    }
}
