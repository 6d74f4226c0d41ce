"""Schemathesis hooks for checkoff: every test case gets a new API token of the administrator the
test script made (`checkoff tokens issue`), so a case that ends sessions or revokes its own token
(POST /logout) never leaves the next one without a valid token, and the login throttle (which
schemathesis's wrong passwords set off, as they should) never stands in the way."""

import os
import re
import subprocess
import uuid

import schemathesis

BIN = os.environ["CHECKOFF_BIN"]
DATA_DIR = os.environ["CHECKOFF_DATA_DIR"]
USER = os.environ["CHECKOFF_API_USER"]


LISTS = {"/todos", "/users", "/admin/todos"}


@schemathesis.hook
def filter_query(context, query):
    """List cursors are sealed by the server (an HMAC over the position, the caller and the
    filter): a made-up one is a 400 whatever its shape, which the hostile-input tests check. So
    generated list requests carry none, nor do syncs a `since` (a sync token is sealed alike). Nor a time zone or due-date bound (`tz`, `due_before`,
    `due_after`), for the reason `filter_body` gives, nor a search (`q`) without a letter or a
    digit to look for (a 400 that the schema cannot express)."""
    operation = getattr(context, "operation", None)
    if operation is not None and operation.path in LISTS and query and "cursor" in query:
        return False
    if operation is not None and operation.path == "/sync" and query and "since" in query:
        return False
    if query and "q" in query and not any(c.isalnum() for c in str(query["q"])):
        return False
    return not (query and any(k in query for k in ("tz", "due_before", "due_after")))


@schemathesis.hook
def before_call(context, case, kwargs):
    """A present but empty If-Match is a 400 by design: a write asked to be conditional is never
    made unconditional (tests/it checks it). The header's pattern excludes the empty value, yet
    the coverage phase sends one as a valid case: such a case is sent as it means, without it.
    A well-formed Idempotency-Key is made unique to the call (see below); a malformed one is
    sent as generated."""
    if case.headers and case.headers.get("If-Match") == "":
        del case.headers["If-Match"]
    # With its fixed seed schemathesis sends the same key and body again in a later phase: the
    # answer is then, rightly, the first create's, whose todo a phase between may have deleted
    # (and the stateful phase calls that "created resource not found"). Replays are tested in
    # tests/it; here every create is a new one.
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and re.fullmatch(r"[\x21-\x7e]{1,255}", key):
        case.headers["Idempotency-Key"] = uuid.uuid4().hex


@schemathesis.auth(refresh_interval=None)
class FreshToken:
    def __init__(self):
        self.user = USER
        self.made = 0

    def get(self, case, context):
        issued = self.issue()
        if "no such user" in issued.stderr:
            # The administrator may delete its own account, and schemathesis's stateful phase
            # does (DELETE /users/{username} with the name a response gave). It then checks the
            # account stays gone: so carry on as a new administrator of another name.
            self.made += 1
            self.user = f"{USER}-{self.made}"
            subprocess.run(
                [BIN, "users", "create", "--admin", "--password-stdin", self.user],
                input=os.environ["CHECKOFF_API_PASSWORD"], capture_output=True, text=True,
                check=True, timeout=30,
            )
            issued = self.issue()
        if issued.returncode != 0:
            raise RuntimeError(f"checkoff tokens issue failed: {issued.stderr}")
        return issued.stdout.strip()

    def issue(self):
        return subprocess.run(
            [BIN, "tokens", "issue", "--ttl", "1h", self.user],
            capture_output=True, text=True, timeout=30,
        )

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def filter_body(context, body):
    """Whether a date exists (30 February, 29 February outside leap years) and whether a wall-clock
    time exists in a time zone (the hour its clocks skip) is beyond JSON Schema, and so is the set
    of IANA zone names this checkoff knows: a due the document allows may still be a 400 naming
    why, and so may a profile's `tz`. Generated bodies carry no due and no zone but null (which
    removes one); tests/it/planning.rs and the domain's unit tests cover them."""
    if not isinstance(body, dict):
        return True
    return "due" not in body and body.get("tz") is None
