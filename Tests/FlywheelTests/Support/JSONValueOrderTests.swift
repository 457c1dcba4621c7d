import Foundation
import Testing

@testable import Flywheel
@testable import FlywheelSupport

@Suite("JSONValue: one type, one reader, member order")
struct JSONValueOrderTests {
    static let doc = #"{"z":1,"a":{"y":1.0,"b":[2,"\u2028"]},"m":null}"#

    @Test("parsing keeps document order; the canonical writer still sorts keys, the ordered writer does not")
    func orderAndWriters() throws {
        let v = try JSONValue.parse(Self.doc)
        #expect(Array(try #require(v.objectValue).keys) == ["z", "a", "m"])
        #expect(v.canonicalText == #"{"a":{"b":[2,"\u2028"],"y":1.0},"m":null,"z":1}"#)
        #expect(v.orderedText() == #"{"z":1,"a":{"y":1.0,"b":[2,"\u2028"]},"m":null}"#)
        #expect(v.orderedText(dialect: .javaScript) == "{\"z\":1,\"a\":{\"y\":1,\"b\":[2,\"\u{2028}\"]},\"m\":null}")
        #expect(v.orderedText(indent: 2) == "{\n  \"z\": 1,\n  \"a\": {\n    \"y\": 1.0,\n    \"b\": [\n      2,\n      \"\\u2028\"\n    ]\n  },\n  \"m\": null\n}")
        #expect(JSONValue.obj([("e", .array([])), ("o", .object([:]))]).orderedText(indent: 2) == "{\n  \"e\": [],\n  \"o\": {}\n}")
        #expect(v.keysSorted.orderedText() == v.canonicalText)
    }

    @Test("equality and hashing ignore member order; ints and doubles stay apart")
    func equality() throws {
        let a = JSONValue.obj([("x", 1), ("y", .obj([("p", true), ("q", "s")]))])
        let b = JSONValue.obj([("y", .obj([("q", "s"), ("p", true)])), ("x", 1)])
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(Set([a, b]).count == 1)
        #expect(a != JSONValue.obj([("x", 1.0), ("y", .obj([("p", true), ("q", "s")]))]))
        #expect(JSONValue.object(["b": 1, "a": 2]).objectValue.map { Array($0.keys) } == ["a", "b"])
    }

    @Test("a repeated key keeps its first place and its last value")
    func duplicates() throws {
        let v = try JSONValue.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(v.orderedText() == #"{"a":3,"b":2}"#)
    }

    @Test("every entry point reads the same: text, data and bytes agree; errors name the byte")
    func oneReader() throws {
        for text in [Self.doc, "[1,2.5,-0,1e400]", "NaN", #""a\/b""#] {
            let fromText = try JSONValue.parse(text)
            let fromData = try JSONValue.parse(Data(text.utf8))
            #expect(fromText.canonicalText == fromData.canonicalText)
            #expect(JSONValue.parseOrNil(text)?.canonicalText == fromText.canonicalText)
        }
        #expect(try JSONValue.parse("1.0") == .double(1))
        #expect(try JSONValue.parse("12345678901234567890") == .double(1.2345678901234567e19))
        for bad in ["[1,2,]", "{\"a\":1", "\"\\ud800\"", "1 x"] {
            #expect(throws: JSONScanError.self) { try JSONValue.parse(bad) }
            #expect(JSONValue.parseOrNil(bad) == nil)
        }
        let e = try #require(throws: JSONScanError.self) { try JSONValue.parse("[1,2,]") }
        #expect(e.description == "invalid JSON value at byte 5")
    }

    @Test("JavaScript semantics are explicit: JSON.parse rejects NaN, looselyEquals compares numbers by value and strings by UTF-16")
    func javaScript() throws {
        #expect(throws: JSONScanError.self) { try JSONValue.parseStrict("[NaN]") }
        #expect(JSONValue.parseStrictOrNil("Infinity") == nil)
        #expect(try JSONValue.parseStrict(#"{"b":1,"a":2}"#).jsonString == #"{"b":1,"a":2}"#)
        #expect(JSONValue.int(1).looselyEquals(.double(1.0)))
        #expect(JSONValue.int(1) != .double(1.0))
        #expect(!JSONValue.string("1").looselyEquals(.int(1)))
        // "é" precomposed and decomposed: equal Swift strings, different UTF-16 (JavaScript's ===).
        #expect(JSONValue.string("\u{E9}") == .string("e\u{301}"))
        #expect(!JSONValue.string("\u{E9}").looselyEquals(.string("e\u{301}")))
        #expect(JSONValue.obj([("a", 1), ("b", [1.0])]).looselyEquals(.obj([("b", [1]), ("a", 1.0)])))
        #expect(JSONValue.double(0.1).prettyString() == "0.1")
        #expect(JSONValue.obj([("k", .array([1, 2]))]).prettyString(indent: 2) == "{\n  \"k\": [\n    1,\n    2\n  ]\n}")
    }
}
