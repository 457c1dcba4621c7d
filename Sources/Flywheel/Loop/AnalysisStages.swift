import FlywheelTraces
import Foundation
import GitStore

/// Diagnosis (failure modes, ranked recommendations, outcomes of the previous cycle's recommendations) and the handoff.
public enum AnalysisStages {
    /// Diagnoses a cycle from its traces, feedback, gate results and harness; in the open cycle it commits
    /// `diagnosis.json` (stage `diagnosis`).
    public static func diagnose(_ ctx: LoopContext, cycle: Int? = nil) throws -> (diagnosis: Diagnosis, commit: String?) {
        let number = try cycle ?? ctx.history.openCycle().number
        let data = try CycleData.read(ctx.history, cycle: number)
        guard !data.traces.isEmpty else { throw StageError(.diagnosis, "cycle \(number) has no traces to diagnose") }
        let harness = data.harnessFiles
        var input = DiagnosisInput(
            spans: [], feedback: data.feedback, results: try data.resultRows(), harness: harness,
            artifacts: data.outputs.mapValues { Set($0.keys) }, requiredArtifacts: data.rules.requiredArtifacts,
            topics: data.rules.failureTopics, expectedDeclines: data.rules.expectedDeclines,
            instructionsFile: harness.mainInstructionsPath(declared: ctx.config.instructions))
        input.taskHistory = try taskHistory(ctx, before: number, revision: data.revision)
        let store: TraceStore
        do { store = try TraceStore(data: data.traces, name: Layout.cycleFile(number, Layout.CycleFile.traces), options: DiagnosisLoading.scanOptions) } catch {
            throw StageError(.diagnosis, "\(Layout.cycleFile(number, Layout.CycleFile.traces)): \(error)")
        }
        var diagnosis = try Diagnoser.diagnose(
            store: store, input: input, cycle: number,
            finalAnswers: data.outputs.compactMapValues { $0[data.rules.answerFile] ?? $0[RunFiles.finalAnswer] })
        if let model = try ctx.model(for: .diagnosis) {
            do {
                let result = try ModelDiagnosisPass(model: model).run(store: store, deterministic: diagnosis)
                diagnosis = ModelDiagnosisPass.merge(diagnosis, result, modelID: model.id)
            } catch {
                throw StageError(.diagnosis, "diagnosis model \(model.id): \(error)")
            }
        }
        diagnosis.outcomes = try outcomes(ctx, current: data, diagnosis: diagnosis)
        guard data.cycle.status == .open else { return (diagnosis, nil) }
        let top = diagnosis.recommendations.first.map { "Top recommendation: \($0.id) — \($0.title)." } ?? "No recommendation."
        let (_, commit) = try ctx.history.commitToOpenCycle(
            .diagnosis, files: [Layout.CycleFile.diagnosis: diagnosis.encoded()],
            body: "\(diagnosis.failureModes.count) failure mode(s), \(diagnosis.recommendations.count) recommendation(s). \(top)")
        return (diagnosis, commit?.hex)
    }

    /// Earlier cycles whose runs a task's outliers are measured against.
    static let taskHistoryCycles = 10

    /// The latency and token figures of each task's runs in the (up to) `taskHistoryCycles` cycles before `number`,
    /// from their diagnoses' `task_runs` (oldest first). A cycle without a diagnosis, one written before the figures
    /// were recorded, or one whose diagnosis.json does not parse (said in the progress) adds nothing.
    static func taskHistory(_ ctx: LoopContext, before number: Int, revision: String) throws -> [String: TaskRunFigures] {
        let snap = try ctx.history.snapshot(at: revision)
        let earlier = try snap.cycles().map(\.number).filter { $0 < number }.suffix(taskHistoryCycles)
        var history: [String: TaskRunFigures] = [:]
        for k in earlier {
            guard let data = try snap.cycleFile(k, Layout.CycleFile.diagnosis) else { continue }
            let runs: [String: TaskRunFigures]?
            do { runs = try Diagnosis.read(data).taskRuns } catch {
                // An earlier cycle's damaged record costs this diagnosis that cycle's baseline, not the diagnosis.
                ctx.progress("diagnosis: \(Layout.cycleFile(k, Layout.CycleFile.diagnosis)) is unreadable (\(describeDecodingError(error))); its runs are left out of the task baselines")
                continue
            }
            for (task, figures) in runs ?? [:] {
                history[task, default: TaskRunFigures()].latency += figures.latency
                history[task, default: TaskRunFigures()].tokens += figures.tokens
            }
        }
        return history
    }

    /// How the previous cycle's recommendations fared: implemented (the harness diff touches them) and whether their
    /// predicted cases flipped to pass (verified), did not (ineffective) or others broke (regressed).
    static func outcomes(_ ctx: LoopContext, current: CycleData, diagnosis: Diagnosis) throws -> [Outcome] {
        guard let previous = try ctx.history.cycles().last(where: { $0.number < current.cycle.number }) else { return [] }
        let before: CycleData
        do { before = try CycleData.read(ctx.history, cycle: previous.number, parts: []) } catch let e as HistoryError {
            // A damaged record of the previous cycle costs the outcome tracking, not this cycle's diagnosis.
            ctx.progress("diagnosis: the outcomes of cycle \(previous.number)'s recommendations are not tracked: \(e)")
            return []
        }
        guard let previousDiagnosis = before.diagnosis else { return [] }
        let treeDiff = try ctx.history.diff(from: before.revision, to: current.revision, path: Layout.harness)
        let newTexts = Dictionary(uniqueKeysWithValues: current.harness.map { ("\(Layout.harness)/\($0.key)", $0.value) })
        return OutcomeTracker.classify(
            previous: previousDiagnosis, diff: HarnessDiff(treeDiff, newTexts: newTexts), previousResults: try before.resultRows(),
            currentResults: try current.resultRows(), currentFailureModeIDs: Set(diagnosis.failureModes.map(\.id)))
    }

    /// Writes the open cycle's `handoff.md` (stage `handoff`) from its diagnosis, figures and feedback.
    /// With no open cycle it is read-only: the latest cycle's committed `handoff.md`, nothing committed.
    public static func handoff(_ ctx: LoopContext) throws -> (markdown: String, commit: String?) {
        guard let cycle = try? ctx.history.openCycle() else {
            guard let last = try ctx.history.lastCycle() else { throw HistoryError.noOpenCycle }
            guard let text = try CycleData.read(ctx.history, cycle: last.number, parts: []).handoff else {
                throw StageError(.handoff, "no open cycle, and the latest cycle (\(last.number)) has no handoff.md: start a cycle to write one")
            }
            return (text, nil)
        }
        let data = try CycleData.read(ctx.history, cycle: cycle.number, revision: ctx.history.ref, parts: [])
        guard let diagnosis = data.diagnosis else {
            throw StageError(.handoff, "cycle \(cycle.number) has no diagnosis yet: run `flywheel diagnose` first")
        }
        let previous = try ctx.history.cycles().last(where: { $0.number < cycle.number })
        let agentModel = data.cycle.models["agent"]
        // The label may carry a suffix (a cassette replay of the offline model is still the simulation).
        let simulation = agentModel.map { $0.contains(HandoffWriter.simulationMarker) } ?? false
        let markdown = HandoffWriter.render(HandoffContext(
            cycle: cycle.number, diagnosis: diagnosis, scores: data.cycle.scores, previousScores: previous?.scores,
            feedback: data.feedback, agentModel: agentModel, agentIsSimulation: simulation))
        let (_, commit) = try ctx.history.commitToOpenCycle(
            .handoff, files: [Layout.CycleFile.handoff: Data(markdown.utf8)],
            body: diagnosis.recommendations.first.map { "Implement exactly one change: \($0.id) — \($0.title)." } ?? "Nothing to change.")
        return (markdown, commit?.hex)
    }
}
