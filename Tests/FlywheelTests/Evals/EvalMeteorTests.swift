import Foundation
import Testing
@testable import Flywheel
@testable import FlywheelEvals

@Suite("Evals METEOR")
struct EvalMeteorTests {
    @Test("Porter stems of the algorithm's own examples")
    func stems() {
        let cases = ["caresses": "caress", "ponies": "poni", "cats": "cat", "feed": "feed", "agreed": "agre", "plastered": "plaster",
                     "motoring": "motor", "sing": "sing", "hopping": "hop", "hoping": "hope", "filing": "file", "sized": "size",
                     "happy": "happi", "relational": "relat", "conditional": "condit", "generalization": "gener", "electrical": "electr",
                     "adjustment": "adjust", "controlling": "control", "roll": "roll", "running": "run", "runs": "run", "rate": "rate",
                     "cease": "ceas", "hopefulness": "hope", "adoption": "adopt"]
        for (w, s) in cases { #expect(PorterStemmer.stem(w) == s, "\(w)") }
    }

    @Test("scores: exact matches with the fragmentation penalty, stem matches, best reference, threshold and not-")
    func scores() throws {
        let same = try EvalMeteor.score("the cat sat on the mat", ["the cat sat on the mat"])
        #expect(abs(same - (1 - 0.5 * pow(1.0 / 6.0, 3))) < 1e-12)
        #expect(try EvalMeteor.score("cats running.", ["cat runs"]) == 0.9375)
        #expect(try EvalMeteor.score("dogs bark", ["cats meow", "dogs bark"]) == 0.9375)
        #expect(try EvalMeteor.score("nothing shared", ["entirely different"]) == 0)
        #expect(throws: EvalAssertionError.self) { try EvalMeteor.score("", ["x"]) }
        let engine = EvalAssertionEngine(scripts: nil)
        let out = EvalOutput(output: .string("the quick brown fox"))
        let pass = try engine.run(EvalAssertion(type: "meteor", value: "the quick brown fox"), output: out, context: .init())
        #expect(pass.pass && pass.reason == "METEOR assertion passed")
        let fail = try engine.run(EvalAssertion(type: "meteor", value: "a slow red dog", threshold: 0.5), output: out, context: .init())
        #expect(!fail.pass && fail.reason == "METEOR score 0.0000 did not meet threshold 0.5")
        let inv = try engine.run(EvalAssertion(type: "not-meteor", value: "a slow red dog"), output: out, context: .init())
        #expect(inv.pass && inv.score == 1)
    }
}
