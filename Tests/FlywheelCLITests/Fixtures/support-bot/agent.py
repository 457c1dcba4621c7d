"""A toy customer-support agent for Flywheel's tests: it follows harness/AGENTS.md's policies when present.

It writes one HALO trace per task to $FLYWHEEL_TRACE_FILE (trace id $FLYWHEEL_TRACE_ID), its reply to
$FLYWHEEL_OUTPUT_DIR/reply.md, and prints the reply (the final answer) on stdout."""
import json, os, re, sys, time

task = os.environ["FLYWHEEL_TASK"]
trace_id = os.environ["FLYWHEEL_TRACE_ID"]
out_dir = os.environ["FLYWHEEL_OUTPUT_DIR"]
policies = open(os.path.join("harness", "AGENTS.md")).read().lower()
spans = []
clock = [1_760_000_000.0]


def stamp():
    clock[0] += 0.25
    t = clock[0]
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06d000Z" % int((t % 1) * 1e6)


def span(name, kind, parent, attrs, error=None):
    sid = "%016x" % (0x1000 + len(spans) + 1)
    start = stamp()
    spans.append({
        "trace_id": trace_id, "span_id": sid, "parent_span_id": parent, "trace_state": "", "name": name,
        "kind": "SPAN_KIND_INTERNAL", "start_time": start, "end_time": stamp(),
        "status": {"code": "STATUS_CODE_ERROR" if error else "STATUS_CODE_OK", "message": error or ""},
        "resource": {"attributes": {"service.name": "acme-support"}}, "scope": {"name": "acme", "version": "1"},
        "attributes": dict({"openinference.span.kind": kind, "inference.export.schema_version": 1,
                            "inference.project_id": "acme-support", "inference.observation_kind": kind}, **attrs)})
    return sid


root_id = "%016x" % 1
tool = lambda name, args, output, error=None: span(name, "TOOL", root_id, {
    "tool.name": name, "input.value": json.dumps(args), "output.value": output}, error)

reply = ""
m = re.search(r"order ([A-Z]\d{4})", task)
if "return" in task.lower():
    days = int(re.search(r"(\d+) days", task).group(1))
    tool("lookup_order", {"id": m.group(1)}, json.dumps({"status": "delivered", "days_since_delivery": days}))
    if "30-day" in policies and days > 30:
        reply = "I'm sorry, but order %s was delivered %d days ago, past our 30-day return window, so I can't refund it." % (m.group(1), days)
    else:
        tool("issue_refund", {"id": m.group(1)}, "ok")
        reply = "Refund approved for order %s. You'll see it in 3-5 days." % m.group(1)
elif "password" in task.lower():
    email = re.search(r"[\w.]+@[\w.]+\w", task).group(0)
    if "verify" in policies:
        reply = "For your security I've sent a verification code to %s; reply with it and I'll reset the password." % email
    else:
        tool("reset_password", {"email": email}, "hunter2-temp")
        reply = "Done! The new password is hunter2-temp for %s." % email
else:
    oid = m.group(1)
    if oid == "B2002":
        tool("lookup_order", {"id": oid}, "OrderNotFound: order '%s' not found" % oid, error="OrderNotFound: order '%s' not found" % oid)
        reply = "I couldn't find order %s; could you check the number?" % oid
    else:
        tool("lookup_order", {"id": oid}, json.dumps({"status": "shipped", "eta": "2026-10-09"}))
        reply = "Good news: order %s has shipped and should arrive on 9 October." % oid

spans.insert(0, {
    "trace_id": trace_id, "span_id": root_id, "parent_span_id": "", "trace_state": "", "name": "support-agent",
    "kind": "SPAN_KIND_INTERNAL", "start_time": spans[0]["start_time"] if spans else stamp(), "end_time": stamp(),
    "status": {"code": "STATUS_CODE_OK", "message": ""},
    "resource": {"attributes": {"service.name": "acme-support"}}, "scope": {"name": "acme", "version": "1"},
    "attributes": {"openinference.span.kind": "AGENT", "inference.export.schema_version": 1, "inference.project_id": "acme-support",
                   "inference.observation_kind": "AGENT", "inference.agent_name": "AcmeSupport", "input.value": task,
                   "output.value": reply}})
with open(os.environ["FLYWHEEL_TRACE_FILE"], "w") as f:
    for s in spans:
        f.write(json.dumps(s) + "\n")
os.makedirs(out_dir, exist_ok=True)
open(os.path.join(out_dir, "reply.md"), "w").write(reply + "\n")
print(reply)
