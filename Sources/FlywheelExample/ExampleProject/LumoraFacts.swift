import Flywheel
import Foundation

/// The planted figures of the embedded diligence example (see specs/example-diligence.md). The shipped
/// data room (Resources/example/dataroom) holds these exactly; tests recompute them from its files.
public enum LumoraFacts {
    /// Company name.
    public static let company = "Lumora Systems, Inc."
    /// The example's "today".
    public static let asOf = "2026-09-30"
    /// Recognised ARR at 2026-09 (financials/arr_by_month.csv), US dollars.
    public static let arrSep2026 = 46_900_000
    /// ARR at 2025-09, the start of the trailing twelve months.
    public static let arrSep2025 = 36_500_000
    /// "Committed launch ARR" that is not recognised ARR.
    public static let launchARR = 3_100_000
    /// Signed expansions starting in 2027, also not recognised ARR.
    public static let signedFutureARR = 2_000_000
    /// The board deck's ARR figure (recognised + launch + signed future).
    public static let boardDeckARR = 52_000_000
    /// The largest legal entity's ARR (12 % of ARR).
    public static let largestEntityARR = 5_628_000
    /// Helix Group's ARR across its five legal entities (31 % of ARR).
    public static let helixGroupARR = 14_539_000
    /// Number of Helix legal entities.
    public static let helixEntityCount = 5
    /// Trailing-twelve-month NRR from customers/cohort_retention.csv, percent.
    public static let nrrPercent = 112
    /// Management's unvalidated NRR estimate, percent.
    public static let managementNRRPercent = 130
    /// Next quarter (close_quarter value in sales/pipeline.csv).
    public static let nextQuarter = "2026-Q4"
    /// New-ARR target of the next quarter, US dollars (stated in sales/pipeline_notes.md).
    public static let nextQuarterTarget = 3_000_000
    /// Weighted pipeline of the next quarter (sum of amount × probability), US dollars: 2.1× the target.
    public static let weightedNextQuarterPipeline = 6_300_000
    /// Unweighted pipeline of the next quarter: the "4×" management quotes.
    public static let unweightedNextQuarterPipeline = 12_000_000
    /// Headcount in hr/org_chart.md.
    public static let headcount = 212
}
