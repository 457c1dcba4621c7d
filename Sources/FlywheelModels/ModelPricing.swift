/// Prices of models per million tokens, for a cost estimate. An estimate only: the table is small,
/// fixed at build time, and unknown models (local servers, new models) have no cost (nil).
public struct ModelPricing: Sendable, Hashable {
    /// US dollars per million input (prompt) and output (completion) tokens.
    public struct Price: Sendable, Hashable {
        var inputPerMillion: Double
        var outputPerMillion: Double

        public init(inputPerMillion: Double, outputPerMillion: Double) {
            self.inputPerMillion = inputPerMillion
            self.outputPerMillion = outputPerMillion
        }
    }

    /// Model name → price.
    var prices: [String: Price]

    /// A table.
    public init(prices: [String: Price]) { self.prices = prices }

    /// OpenAI list prices (standard tier, USD per 1M tokens) as published in 2025.
    public static let openAI = ModelPricing(prices: [
        "gpt-5": Price(inputPerMillion: 1.25, outputPerMillion: 10.00),
        "gpt-5-mini": Price(inputPerMillion: 0.25, outputPerMillion: 2.00),
        "gpt-5-nano": Price(inputPerMillion: 0.05, outputPerMillion: 0.40),
        "gpt-4.1": Price(inputPerMillion: 2.00, outputPerMillion: 8.00),
        "gpt-4.1-mini": Price(inputPerMillion: 0.40, outputPerMillion: 1.60),
        "gpt-4.1-nano": Price(inputPerMillion: 0.10, outputPerMillion: 0.40),
        "gpt-4o": Price(inputPerMillion: 2.50, outputPerMillion: 10.00),
        "gpt-4o-mini": Price(inputPerMillion: 0.15, outputPerMillion: 0.60),
        "o3": Price(inputPerMillion: 2.00, outputPerMillion: 8.00),
        "o3-mini": Price(inputPerMillion: 1.10, outputPerMillion: 4.40),
        "o4-mini": Price(inputPerMillion: 1.10, outputPerMillion: 4.40),
        "gpt-4-turbo": Price(inputPerMillion: 10.00, outputPerMillion: 30.00),
        "gpt-3.5-turbo": Price(inputPerMillion: 0.50, outputPerMillion: 1.50),
    ])

    /// The price of `model`: an exact match, else the name without a dated snapshot suffix
    /// (`gpt-4o-2024-08-06` → `gpt-4o`), else nil.
    /// - Parameter model: the model name as the server reported it.
    /// - Returns: the price or nil.
    public func price(of model: String) -> Price? {
        if let p = prices[model] { return p }
        let parts = model.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count > 3 {
            let tail = parts.suffix(3)
            let isDate = tail.map(\.count) == [4, 2, 2] && tail.allSatisfy { $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
            if isDate { return prices[parts.dropLast(3).joined(separator: "-")] }
        }
        return nil
    }

    /// The estimated cost in US dollars, or nil for an unknown model.
    /// - Parameters:
    ///   - model: the model name.
    ///   - usage: token counts.
    /// - Returns: dollars or nil.
    public func cost(model: String, usage: Usage) -> Double? {
        guard let p = price(of: model) else { return nil }
        return (Double(usage.promptTokens) * p.inputPerMillion + Double(usage.completionTokens) * p.outputPerMillion) / 1_000_000
    }
}
