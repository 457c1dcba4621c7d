#!/usr/bin/env python3
"""Builds the planted diagnosis corpus (HALO span JSONL, spec §1-3) and expected.json.

Run from this folder: python3 generate.py. Deterministic (seeded). Each file plants two failure modes among
noise (successful runs, several agents and tools, one-off tool errors with distinct texts):
  errors.jsonl   tool-error cluster (read_file permission denied, varied paths/numbers) + hallucinated tool
  loops.jsonl    repeated identical tool calls (>= 3) + refusals in final answers
  turns.jsonl    max-turn exhaustion + missing artifacts (write_artifact calls cover 4 of 6)
"""
import json, random

ARTIFACTS = ["summary_answer.md", "investment_memo.md", "risk_register.json", "open_questions.md",
             "citations.json", "evidence_table.csv"]
OFFERED = ["list_files", "read_file", "search_files", "write_artifact"]
ERR = "An error occurred while running the tool. Please try again. Error: "


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.t = 1_790_000_000_000_000_000  # ns
        self.lines = []

    def hex(self, n):
        return "".join(self.r.choice("0123456789abcdef") for _ in range(n))

    def ts(self, ns):
        s, frac = divmod(ns, 1_000_000_000)
        import time
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%09dZ" % frac

    def span(self, trace, sid, parent, name, kind, start, end, attrs, code="STATUS_CODE_OK", msg=""):
        base = {"inference.export.schema_version": 1, "inference.project_id": "planted",
                "inference.agent_name": attrs.pop("_agent", "DiligenceAnalyst"),
                "inference.agent_id": "agent-1"}
        base.update(attrs)
        obj = {"trace_id": trace, "span_id": sid, "parent_span_id": parent, "trace_state": "", "name": name,
               "kind": kind, "start_time": self.ts(start), "end_time": self.ts(end),
               "status": {"code": code, "message": msg},
               "resource": {"attributes": {"service.name": "planted-agents"}},
               "scope": {"name": "flywheel", "version": "0.1.0"},
               "attributes": dict(sorted(base.items()))}
        self.lines.append(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))

    def trace(self, agent="DiligenceAnalyst", tools=(), final="The ARR is $46.9M per the export.",
              stop="completed", outcome="success", offered=OFFERED, sub_agent=None):
        """tools: list of (tool, args_dict, error_text_or_None)"""
        trace = self.hex(32)
        root = self.hex(16)
        start = self.t
        t = start + 1000
        children = []
        for i, (tool, args, err) in enumerate(tools):
            gid = self.hex(16)
            call = {"content": None, "role": "assistant", "tool_calls": [
                {"function": {"arguments": json.dumps(args, separators=(",", ":")), "name": tool}, "id": "call_%d" % i,
                 "type": "function"}]}
            self.span(trace, gid, root, "generation.gpt-4.1-mini", "SPAN_KIND_CLIENT", t, t + 500_000,
                      {"_agent": agent, "inference.observation_kind": "LLM", "openinference.span.kind": "LLM",
                       "llm.model_name": "gpt-4.1-mini", "inference.llm.model_name": "gpt-4.1-mini",
                       "inference.llm.input_tokens": 100 + i, "inference.llm.output_tokens": 20,
                       "llm.output_messages": json.dumps([call], separators=(",", ":"))})
            t += 600_000
            sid = self.hex(16)
            attrs = {"_agent": agent, "inference.observation_kind": "TOOL", "openinference.span.kind": "TOOL",
                     "tool.name": tool, "input.value": json.dumps(args, separators=(",", ":"))}
            if err is None:
                attrs["output.value"] = "ok: %s" % self.hex(6)
                self.span(trace, sid, root, "function." + tool, "SPAN_KIND_INTERNAL", t, t + 300_000, attrs)
            else:
                attrs["output.value"] = ERR + err
                self.span(trace, sid, root, "function." + tool, "SPAN_KIND_INTERNAL", t, t + 300_000, attrs,
                          "STATUS_CODE_ERROR", "Error running tool (non-fatal)")
            children.append(sid)
            t += 400_000
        if sub_agent:
            sub = self.hex(16)
            self.span(trace, self.hex(16), sub, "function.read_file", "SPAN_KIND_INTERNAL", t, t + 100_000,
                      {"_agent": sub_agent, "inference.observation_kind": "TOOL", "openinference.span.kind": "TOOL",
                       "tool.name": "read_file", "input.value": "{\"path\":\"overview.md\"}", "output.value": "Lumora"})
            self.span(trace, sub, root, "agent." + sub_agent, "SPAN_KIND_INTERNAL", t, t + 200_000,
                      {"_agent": sub_agent, "inference.observation_kind": "AGENT", "openinference.span.kind": "AGENT",
                       "agent.name": sub_agent})
            t += 300_000
        if final is not None:
            msg = {"content": final, "role": "assistant"}
            self.span(trace, self.hex(16), root, "generation.gpt-4.1-mini", "SPAN_KIND_CLIENT", t, t + 400_000,
                      {"_agent": agent, "inference.observation_kind": "LLM", "openinference.span.kind": "LLM",
                       "llm.model_name": "gpt-4.1-mini", "inference.llm.model_name": "gpt-4.1-mini",
                       "llm.output_messages": json.dumps([msg], separators=(",", ":"))})
            t += 500_000
        attrs = {"_agent": agent, "inference.observation_kind": "AGENT", "openinference.span.kind": "AGENT",
                 "agent.name": agent, "agent.tools": json.dumps(list(offered)), "agent.outcome": outcome,
                 "agent.stop_reason": stop}
        code, msg = ("STATUS_CODE_OK", "")
        if stop == "max_turns":
            code, msg = "STATUS_CODE_ERROR", "MaxTurnsExceeded: max turns (%d) exceeded" % self.r.choice([10, 12, 15])
        self.span(trace, root, "", "agent." + agent, "SPAN_KIND_INTERNAL", start, t + 1000, attrs, code, msg)
        self.t = t + 5_000_000_000
        return trace

    def normal_tools(self):
        # distinct calls only: accidental repetition would plant loops in the noise
        n = self.r.randint(2, 5)
        paths = ["financials/arr_by_month.csv", "customers/customers.csv", "board_deck.md", "overview.md",
                 "security/security_overview.md", "sales/pipeline.csv"]
        pool = [("read_file", {"path": p}, None) for p in paths] + \
               [("search_files", {"pattern": p}, None) for p in ["ARR", "NRR", "SOC 2", "Helix"]]
        return [("list_files", {}, None)] + self.r.sample(pool, n)

    def writes(self, names):
        return [("write_artifact", {"name": n, "content": "x"}, None) for n in names]


def noise(g, k, texts):
    ids = []
    for text in texts[:k]:
        tool, err = text
        tools = g.normal_tools()
        tools.insert(1, (tool, {"path": "misc/%s.txt" % g.hex(4)} if tool != "search_files" else {"pattern": "("}, err))
        ids.append(g.trace(agent=g.r.choice(["DiligenceAnalyst", "Researcher"]), tools=tools + g.writes(ARTIFACTS)))
    for _ in range(k):
        ids.append(g.trace(agent=g.r.choice(["DiligenceAnalyst", "Summarizer"]), tools=g.normal_tools() + g.writes(ARTIFACTS),
                           sub_agent=g.r.choice([None, "Researcher"])))
    return ids


NOISE_ERRORS = [
    ("write_artifact", "disk quota exceeded on volume 3"),
    ("search_files", "invalid regular expression: unterminated group at position 0"),
    ("list_files", "listing timed out after 12.5 seconds"),
    ("read_file", "file is empty"),
]

expected = {}

# errors.jsonl
g = Gen(1)
order = []
cluster, halluc = [], []
for i in range(5):
    tools = g.normal_tools()
    for j in range(1 + (i % 2)):
        path = "/data/room/%s/%s.csv" % (g.r.choice(["fin", "cust", "legal"]), g.hex(6))
        tools.insert(1 + j, ("read_file", {"path": path}, "permission denied: '%s' (errno 13, uid %d)" % (path, g.r.randint(1000, 9999))))
    cluster.append(g.trace(tools=tools + g.writes(ARTIFACTS)))
    order += noise(g, 1, NOISE_ERRORS[i % 4:]) if i < 3 else []
for i in range(3):
    tools = g.normal_tools()
    tools.insert(2, (g.r.choice(["query_database", "fetch_sec_filings"]), {"q": "ARR"}, None))
    halluc.append(g.trace(agent="Researcher", tools=tools + g.writes(ARTIFACTS)))
order += noise(g, 2, NOISE_ERRORS[1:])
open("errors.jsonl", "w").write("\n".join(g.lines) + "\n")
expected["errors.jsonl"] = {"tool_error": {"tool": "read_file", "trace_ids": cluster}, "unknown_tool": {"trace_ids": halluc}}

# loops.jsonl
g = Gen(2)
loops, refusals = [], []
for i in range(3):
    tools = g.normal_tools()
    args = {"pattern": "net revenue retention %d" % i}
    for _ in range(4):
        tools.insert(2, ("search_files", args, None))
    loops.append(g.trace(tools=tools + g.writes(ARTIFACTS)))
    noise(g, 1, NOISE_ERRORS[i:])
for i in range(2):
    refusals.append(g.trace(agent="Summarizer", tools=g.normal_tools() + g.writes(ARTIFACTS),
                            final=["I'm sorry, but I can't help with evaluating this acquisition.",
                                   "I am unable to provide investment advice about Lumora."][i]))
# below-threshold repetition (2 identical calls) is noise
tools = g.normal_tools()
tools += [("read_file", {"path": "overview.md"}, None)] * 2
g.trace(tools=tools + g.writes(ARTIFACTS))
noise(g, 2, NOISE_ERRORS[2:])
open("loops.jsonl", "w").write("\n".join(g.lines) + "\n")
expected["loops.jsonl"] = {"loop": {"trace_ids": loops}, "refusal": {"trace_ids": refusals}}

# turns.jsonl
g = Gen(3)
turns, missing = [], []
for i in range(3):
    turns.append(g.trace(tools=g.normal_tools() * 2 + g.writes(ARTIFACTS), stop="max_turns", outcome="incomplete", final=None))
    noise(g, 1, NOISE_ERRORS[(i + 1) % 4:])
for i in range(3):
    missing.append(g.trace(agent="DiligenceAnalyst", tools=g.normal_tools() + g.writes(ARTIFACTS[:4])))
noise(g, 2, NOISE_ERRORS)
open("turns.jsonl", "w").write("\n".join(g.lines) + "\n")
expected["turns.jsonl"] = {"max_turns": {"trace_ids": turns}, "missing_artifacts": {"trace_ids": missing}}

open("expected.json", "w").write(json.dumps(expected, indent=2, sort_keys=True) + "\n")
