#!/usr/bin/env python3
"""Regenerates the malformed-trace corpus beside this script (deterministic, stdlib only).

Each case is a small JSONL file; expected.json maps file name -> {"ok": bool (HALO accepts the file),
"issues": [{"line", "code", "field"?}]} that Flywheel's validator must report. Run: python3 make_corpus.py
"""
import copy
import gzip
import json
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
T = "7d3f1c9a2b4e4f6a8c0d1e2f3a4b5c6d"


def base(span_id="a1b2c3d4e5f60718", parent="", trace=T, name="agent.X", start="2026-03-02T14:05:11.204118000Z",
         end="2026-03-02T14:05:19.877420512Z"):
    return {
        "trace_id": trace, "span_id": span_id, "parent_span_id": parent, "trace_state": "", "name": name,
        "kind": "SPAN_KIND_INTERNAL", "start_time": start, "end_time": end,
        "status": {"code": "STATUS_CODE_OK", "message": ""},
        "resource": {"attributes": {"service.name": "svc"}},
        "scope": {"name": "flywheel", "version": "0.1.0"},
        "attributes": {"inference.export.schema_version": 1, "inference.project_id": "p",
                       "inference.observation_kind": "AGENT", "openinference.span.kind": "AGENT",
                       "inference.agent_name": "X", "inference.agent_id": "x"},
    }


def dump(o):
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False).encode()


GOOD = dump(base())
cases = {}  # name -> (bytes, ok, issues)


def add(name, data, ok, issues):
    assert name not in cases, name
    cases[name] = (data, ok, issues)


def with_good_first(line_bytes):
    """A valid span on line 1, the case on line 2."""
    return GOOD + b"\n" + line_bytes + b"\n"


# 1. Invalid JSON.
for i, bad in enumerate([
    b'{"trace_id":', b'{"trace_id":"x",}', b"{'trace_id':'x'}", b'{trace_id:"x"}', b"hello", b'{"a":}',
    b'{"a" "b"}', b'{"a":1 "b":2}', b'{"a":[1,2}', b'{"a":tru}', b'{"a":01}', b'{"a":1.}', b'{"a":-}',
    b'{"a":"\\x"}', b'{"a":"\\u12"}', b'}', b'{"a":"unterminated',
]):
    add(f"invalid_json_{i:02d}.jsonl", with_good_first(bad), False, [{"line": 2, "code": "invalid_json", "field": "<line>"}])

# 2. Wrong types (incl. null) for string fields.
STRING_FIELDS = ["trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind", "start_time", "end_time",
                 "status.code", "status.message", "scope.name", "scope.version"]
for f in STRING_FIELDS:
    for label, value in [("null", None), ("int", 17), ("array", ["x"])]:
        o = base()
        if "." in f:
            a, b = f.split(".")
            o[a][b] = value
        else:
            o[f] = value
        add(f"wrong_type_{f.replace('.', '_')}_{label}.jsonl", with_good_first(dump(o)), False,
            [{"line": 2, "code": "wrong_type", "field": f}])

# 3. Missing required fields.
for f in ["trace_id", "span_id", "name", "kind", "start_time", "end_time", "status", "resource", "scope",
          "attributes", "status.code", "resource.attributes", "scope.name"]:
    o = base()
    if "." in f:
        a, b = f.split(".")
        del o[a][b]
    else:
        del o[f]
    add(f"missing_{f.replace('.', '_')}.jsonl", with_good_first(dump(o)), False, [{"line": 2, "code": "missing", "field": f}])

# camelCase keys count as missing.
o = base()
o["traceId"] = o.pop("trace_id")
add("camel_case_trace_id.jsonl", with_good_first(dump(o)), False, [{"line": 2, "code": "missing", "field": "trace_id"}])

# 4. Extra keys in status / resource / scope.
for where, key in [("status", "details"), ("resource", "schema_url"), ("scope", "attributes")]:
    o = base()
    o[where][key] = "x"
    add(f"extra_key_{where}.jsonl", with_good_first(dump(o)), False, [{"line": 2, "code": "extra_key", "field": f"{where}.{key}"}])

# 5. Object fields of the wrong type.
for f in ["status", "resource", "scope", "attributes", "resource.attributes"]:
    for label, value in [("array", [{"key": "a", "value": {"stringValue": "b"}}]), ("string", "x"), ("null", None)]:
        o = base()
        if "." in f:
            a, b = f.split(".")
            o[a][b] = value
        else:
            o[f] = value
        add(f"wrong_type_obj_{f.replace('.', '_')}_{label}.jsonl", with_good_first(dump(o)), False,
            [{"line": 2, "code": "wrong_type", "field": f}])

# 6. Timestamps.
for i, ts in enumerate(["2026-03-02T14:05:11.204Z", "2026-03-02T14:05:11.204118000", "1777626000000000000",
                        "2026-03-02T14:05:11.204118000+00:00", "2026-13-02T14:05:11.204118000Z"]):
    o = base(start=ts)
    add(f"timestamp_format_{i}.jsonl", dump(o) + b"\n", True, [{"line": 1, "code": "timestamp_format", "field": "start_time"}])
o = base()
o["start_time"] = 1777626000000000000
add("timestamp_integer.jsonl", with_good_first(dump(o)), False, [{"line": 2, "code": "wrong_type", "field": "start_time"}])
add("end_before_start.jsonl", dump(base(start="2026-03-02T14:05:19.000000000Z", end="2026-03-02T14:05:11.000000000Z")) + b"\n",
    True, [{"line": 1, "code": "end_before_start", "field": "end_time"}])

# 7. Tree problems.
add("duplicate_span_id.jsonl", dump(base(span_id="b2c3d4e5f6071829", parent="a1b2c3d4e5f60718")) + b"\n"
    + dump(base(span_id="b2c3d4e5f6071829", parent="a1b2c3d4e5f60718")) + b"\n" + GOOD + b"\n", True,
    [{"line": 2, "code": "duplicate_span_id", "field": "span_id"}])
add("missing_parent.jsonl", dump(base(span_id="b2c3d4e5f6071829", parent="ffffffffffffffff")) + b"\n" + GOOD + b"\n", True,
    [{"line": 1, "code": "missing_parent", "field": "parent_span_id"}])
add("parent_cycle_two.jsonl", dump(base(span_id="1111111111111111", parent="2222222222222222")) + b"\n"
    + dump(base(span_id="2222222222222222", parent="1111111111111111")) + b"\n", True,
    [{"line": 1, "code": "parent_cycle", "field": "parent_span_id"}])
add("parent_cycle_self.jsonl", dump(base(span_id="1111111111111111", parent="1111111111111111")) + b"\n", True,
    [{"line": 1, "code": "parent_cycle", "field": "parent_span_id"}])
add("parent_cycle_three.jsonl", dump(base(span_id="1111111111111111", parent="3333333333333333")) + b"\n"
    + dump(base(span_id="2222222222222222", parent="1111111111111111")) + b"\n"
    + dump(base(span_id="3333333333333333", parent="2222222222222222")) + b"\n", True,
    [{"line": 1, "code": "parent_cycle", "field": "parent_span_id"}])

# 8. Invalid UTF-8.
for i, raw in enumerate([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80abc", b"\xf5\x80\x80\x80"]):
    line = GOOD.replace(b'"name":"agent.X"', b'"name":"agent.' + raw + b'"')
    add(f"invalid_utf8_{i}.jsonl", with_good_first(line), False, [{"line": 2, "code": "invalid_utf8", "field": "<line>"}])
add("invalid_utf8_key.jsonl", with_good_first(GOOD.replace(b'"kind"', b'"ki\xffnd"')), False,
    [{"line": 2, "code": "invalid_utf8", "field": "<line>"}])

# 9. BOM.
add("bom_file_start.jsonl", b"\xef\xbb\xbf" + GOOD + b"\n", False, [{"line": 1, "code": "bom", "field": "<line>"}])
add("bom_line_two.jsonl", GOOD + b"\n\xef\xbb\xbf" + dump(base(span_id="b2c3d4e5f6071829", parent="a1b2c3d4e5f60718")) + b"\n",
    False, [{"line": 2, "code": "bom", "field": "<line>"}])

# 10. Whitespace-only lines.
for i, ws in enumerate([b"   ", b"\t", b"\r", b" \r"]):
    add(f"whitespace_line_{i}.jsonl", GOOD + b"\n" + ws + b"\n", False, [{"line": 2, "code": "whitespace_line", "field": "<line>"}])

# 11. NUL bytes.
add("nul_in_string.jsonl", with_good_first(GOOD.replace(b'agent.X', b'agent.\x00X')), False,
    [{"line": 2, "code": "invalid_json", "field": "<line>"}])
add("nul_outside.jsonl", with_good_first(b"\x00" + GOOD), False, [{"line": 2, "code": "invalid_json", "field": "<line>"}])
add("nul_after.jsonl", with_good_first(GOOD + b"\x00"), False, [{"line": 2, "code": "invalid_json", "field": "<line>"}])

# 12. Accepted framing.
add("crlf.jsonl", GOOD + b"\r\n" + dump(base(span_id="b2c3d4e5f6071829", parent="a1b2c3d4e5f60718")) + b"\r\n", True, [])
add("spaces_around.jsonl", b"  " + GOOD + b"  \n", True, [])
add("no_final_newline.jsonl", GOOD, True, [])
add("empty_file.jsonl", b"", True, [])
add("blank_lines_counted.jsonl", b"\n\n" + GOOD + b"\n\n" + b"{bad\n", False, [{"line": 5, "code": "invalid_json", "field": "<line>"}])

# 13. Truncated files.
for i, cut in enumerate([1, 10, 57, 150, len(GOOD) // 2, len(GOOD) - 1]):
    add(f"truncated_{i}.jsonl", GOOD + b"\n" + GOOD[:cut], False, [{"line": 2, "code": "invalid_json", "field": "<line>"}])

# 14. Not one object.
add("two_objects.jsonl", with_good_first(GOOD + GOOD), False, [{"line": 2, "code": "invalid_json", "field": "<line>"}])
add("two_objects_space.jsonl", with_good_first(GOOD + b" " + GOOD), False, [{"line": 2, "code": "invalid_json", "field": "<line>"}])
add("top_level_array.jsonl", with_good_first(b"[" + GOOD + b"]"), False, [{"line": 2, "code": "not_object", "field": "<line>"}])
add("top_level_string.jsonl", with_good_first(b'"span"'), False, [{"line": 2, "code": "not_object", "field": "<line>"}])
add("top_level_number.jsonl", with_good_first(b"42"), False, [{"line": 2, "code": "not_object", "field": "<line>"}])
add("top_level_null.jsonl", with_good_first(b"null"), False, [{"line": 2, "code": "not_object", "field": "<line>"}])

# 15. Lone surrogates.
for i, esc in enumerate([b"\\ud800", b"\\udc00", b"\\ud800\\u0041"]):
    add(f"lone_surrogate_{i}.jsonl", with_good_first(GOOD.replace(b"agent.X", b"agent." + esc)), False,
        [{"line": 2, "code": "invalid_json", "field": "<line>"}])
add("surrogate_pair_ok.jsonl", GOOD.replace(b"agent.X", b"agent.\\ud83d\\ude00") + b"\n", True, [])

# 16. gzip.
add("gzip.jsonl", gzip.compress(GOOD + b"\n", mtime=0), False, [{"line": 1, "code": "gzip", "field": "<file>"}])

# 17. Tokens.
o = base()
o["attributes"]["inference.llm.input_tokens"] = -5
add("negative_token_total.jsonl", dump(o) + b"\n", False, [{"line": 1, "code": "negative_token_total"},
                                                         {"line": 1, "code": "token_negative"}])
for label, v in [("float", 317.0), ("string", "317"), ("bool", True)]:
    o = base()
    o["attributes"]["inference.llm.output_tokens"] = v
    add(f"token_not_int_{label}.jsonl", dump(o) + b"\n", True,
        [{"line": 1, "code": "token_not_int", "field": 'attributes["inference.llm.output_tokens"]'}])

# 19. Deep nesting.
deep_ok = base()
v = "leaf"
for _ in range(90):
    v = {"k": [v]}
deep_ok["attributes"]["flywheel.deep"] = v
add("deep_nesting_ok.jsonl", dump(deep_ok) + b"\n", True, [])
# HALO (pydantic/jiter) accepts 201 levels of nesting in a line and rejects 202.
add("deep_nesting_201.jsonl", GOOD[:-2] + b',"flywheel.deep":' + b"[" * 199 + b"]" * 199 + b"}}\n", True, [])
add("deep_nesting_202.jsonl", GOOD[:-2] + b',"flywheel.deep":' + b"[" * 200 + b"]" * 200 + b"}}\n", False,
    [{"line": 1, "code": "invalid_json", "field": "<line>"}])
deep_bad = GOOD[:-2] + b',"flywheel.deep":' + b"[" * 5000 + b"]" * 5000 + b"}}"
add("deep_nesting_too_deep.jsonl", with_good_first(deep_bad), False, [{"line": 2, "code": "invalid_json", "field": "<line>"}])
add("deep_nesting_unclosed.jsonl", with_good_first(GOOD[:-2] + b',"x":' + b"[{" * 3000), False,
    [{"line": 2, "code": "invalid_json", "field": "<line>"}])

# 20. Tolerated oddities.
add("duplicate_key.jsonl", GOOD[:-1] + b',"name":"agent.Y"}\n', True, [{"line": 1, "code": "duplicate_json_key"}])
add("duplicate_attribute_key.jsonl", GOOD.replace(b'"inference.project_id":"p"', b'"inference.project_id":"p","inference.project_id":"q"') + b"\n",
    True, [{"line": 1, "code": "duplicate_json_key"}])
add("nan.jsonl", GOOD[:-2] + b',"flywheel.x":NaN}}\n', True, [{"line": 1, "code": "nonstandard_number"}])
add("infinity.jsonl", GOOD[:-2] + b',"flywheel.x":-Infinity}}\n', True, [{"line": 1, "code": "nonstandard_number"}])
add("escaped_slash.jsonl", GOOD.replace(b"agent.X", b"agent\\/X") + b"\n", True, [{"line": 1, "code": "escaped_slash"}])

# 21. Status and kind.
for label, code, ok, issue in [("short", "ERROR", True, "status_code_not_otlp"), ("int", 2, False, "wrong_type")]:
    o = base()
    o["status"]["code"] = code
    add(f"status_code_{label}.jsonl", dump(o) + b"\n", ok, [{"line": 1, "code": issue, "field": "status.code"}])
for label, kind, ok, issue in [("short", "INTERNAL", True, "kind_not_otlp"), ("int", 1, False, "wrong_type")]:
    o = base()
    o["kind"] = kind
    add(f"kind_{label}.jsonl", dump(o) + b"\n", ok, [{"line": 1, "code": issue, "field": "kind"}])

# 22. Spec-checker warnings and notes.
o = base()
del o["attributes"]["inference.project_id"]
add("project_id_missing.jsonl", dump(o) + b"\n", True, [{"line": 1, "code": "project_id_missing"}])
o = base()
o["attributes"]["inference.export.schema_version"] = "1"
add("schema_version_string.jsonl", dump(o) + b"\n", True, [{"line": 1, "code": "schema_version"}])
o = base()
o["attributes"]["inference.observation_kind"] = "WORKFLOW"
add("observation_kind_invalid.jsonl", dump(o) + b"\n", True, [{"line": 1, "code": "observation_kind_invalid"}])
o = base()
o["attributes"]["inference.observation_kind"] = "LLM"
add("llm_without_model.jsonl", dump(o) + b"\n", True, [{"line": 1, "code": "llm_without_model"}])
o = base()
o["attributes"]["inference.observation_kind"] = "TOOL"
add("tool_without_name.jsonl", dump(o) + b"\n", True, [{"line": 1, "code": "tool_without_name"}])
o = base()
del o["attributes"]["openinference.span.kind"]
add("span_kind_missing.jsonl", dump(o) + b"\n", True, [{"line": 1, "code": "span_kind_missing"}])
o = base()
del o["parent_span_id"]
del o["status"]["message"]
add("missing_optional_keys.jsonl", dump(o) + b"\n", True, [{"line": 1, "code": "missing_optional_key", "field": "parent_span_id"},
                                                          {"line": 1, "code": "missing_optional_key", "field": "status.message"}])
add("id_format_24hex.jsonl", dump(base(span_id="e0e7879e26ed453f8027b82c")) + b"\n", True,
    [{"line": 1, "code": "id_format", "field": "span_id"}])
o = base()
for k in ("inference.agent_name", "inference.agent_id"):
    del o["attributes"][k]
add("missing_agent_identity.jsonl", dump(o) + b"\n", True, [{"line": 1, "code": "missing_agent_identity"}])
a, b = base(), base(span_id="b2c3d4e5f6071829", parent="a1b2c3d4e5f60718")
b["attributes"]["inference.project_id"] = "other"
add("project_id_mismatch.jsonl", dump(b) + b"\n" + dump(a) + b"\n", True, [{"line": 1, "code": "project_id_mismatch"}])

# U+2028 in an indexed field breaks HALO's sidecar index (escaped or not).
o = base()
o["resource"]["attributes"]["service.name"] = "svc\u2028x"
add("line_separator_service_name.jsonl", json.dumps(o, separators=(",", ":")).encode() + b"\n", False,
    [{"line": 1, "code": "line_separator_in_indexed_field", "field": 'resource.attributes["service.name"]'}])
o = base()
o["attributes"]["flywheel.note"] = "a\u2028b"
add("line_separator_attribute_ok.jsonl", dump(o) + b"\n", True, [])

# 23. Every error kind in one file, each line reported.
mixed = [GOOD, b"{", b"null", b"   ", dump({**base(), "name": None}), GOOD.replace(b"agent.X", b"agent.\xff"),
         b"\xef\xbb\xbf" + GOOD, dump({k: v for k, v in base().items() if k != "kind"})]
add("mixed_errors.jsonl", b"\n".join(mixed) + b"\n", False, [
    {"line": 2, "code": "invalid_json"}, {"line": 3, "code": "not_object"}, {"line": 4, "code": "whitespace_line"},
    {"line": 5, "code": "wrong_type", "field": "name"}, {"line": 6, "code": "invalid_utf8"}, {"line": 7, "code": "bom"},
    {"line": 8, "code": "missing", "field": "kind"}])

if __name__ == "__main__":
    for old in HERE.glob("*.jsonl"):
        old.unlink()
    manifest = {}
    for name, (data, ok, issues) in sorted(cases.items()):
        (HERE / name).write_bytes(data)
        manifest[name] = {"ok": ok, "issues": issues}
    (HERE / "expected.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"{len(cases)} cases written to {HERE}")
