"""Schemathesis hooks for the run against a live agent (`test_openapi.py`).

- `legate_no_fault`: a 5xx answer passes only when it is Consul's own answer to what the
  request asked, which the agent marks `X-Legate-Error: refused` (Consul answers 500 for a bad
  filter expression, a missing node name, an unknown `?dc=` ...; Legate keeps the status code
  clients expect). Any other 5xx is a fault: a failure the request did not ask for.
- Blocking reads are bounded: a request with `index` waits at most 100 ms, so that a
  generated index above the current one does not hold the run for Consul's default 5 minutes.
"""

import schemathesis


@schemathesis.check
def legate_no_fault(ctx, response, case):
    if response.status_code < 500:
        return None
    kind = response.headers.get("x-legate-error") or []
    if isinstance(kind, str):
        kind = [kind]
    if "refused" in kind:
        return None
    raise AssertionError(
        f"{response.status_code} that is not a refusal (X-Legate-Error: {kind or 'absent'}): "
        f"{response.text[:300]!r}"
    )


@schemathesis.hook
def before_call(ctx, case, kwargs):
    if case.query and "index" in case.query:
        case.query["wait"] = "100ms"
