"""Drive one refresh through the shared library with ctypes, as a Python host would.

Usage: python3 smoke.py path/to/libbearerflow.so

A session with a 60-second token set is asked for a request two minutes later: the
token has expired, so the session asks for a refresh (a FETCH to the token endpoint
with the refresh token in its form body); the host answers with a new token set; the
session asks to PERSIST the rotated tokens, then SENDs the request with the new access
token. Prints libtest's summary line so that `cargo xtask ci` counts the result.
"""

import ctypes
import json
import sys


class Str(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_void_p), ("len", ctypes.c_size_t)]

    def text(self):
        if not self.ptr:
            return None
        return ctypes.string_at(self.ptr, self.len).decode("utf-8")


def str_in(text):
    data = text.encode("utf-8")
    buf = ctypes.create_string_buffer(data, len(data))
    return Str(ctypes.cast(buf, ctypes.c_void_p), len(data)), buf


class Bytes(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class Header(ctypes.Structure):
    _fields_ = [("name", Str), ("value", Str)]


class Send(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_uint64),
        ("generation", ctypes.c_uint64),
        ("headers", ctypes.POINTER(Header)),
        ("headers_len", ctypes.c_size_t),
    ]


class Fetch(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_uint64),
        ("purpose", ctypes.c_uint32),
        ("method", Str),
        ("url", Str),
        ("headers", ctypes.POINTER(Header)),
        ("headers_len", ctypes.c_size_t),
        ("body", Bytes),
    ]


class Persist(ctypes.Structure):
    _fields_ = [
        ("snapshot_json", Str),
        ("has_tokens", ctypes.c_bool),
        ("generation", ctypes.c_uint64),
        ("has_expires_at", ctypes.c_bool),
        ("expires_at_ms", ctypes.c_uint64),
    ]


class Cause(ctypes.Structure):
    _fields_ = [("code", Str), ("message", Str)]


class Fail(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_uint64),
        ("error", ctypes.c_uint32),
        ("error_code", Str),
        ("error_message", Str),
        ("has_cause", ctypes.c_bool),
        ("cause", Cause),
    ]


class Authorize(ctypes.Structure):
    _fields_ = [("url", Str)]


class Action(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_uint32),
        ("send", Send),
        ("fetch", Fetch),
        ("persist", Persist),
        ("fail", Fail),
        ("authorize", Authorize),
    ]


class Stats(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint32)
        for name in (
            "refresh_requests",
            "code_exchanges",
            "client_credentials_requests",
            "discovery_requests",
            "registration_requests",
            "authorizations",
            "helper_runs",
            "sends",
            "fails",
            "unauthorized_seen",
            "insufficient_scope_seen",
            "credentials_installed",
            "persist_failures",
        )
    ]


class Error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_uint32), ("code", Str), ("message", Str)]


NONE, SEND, FETCH, RUN_HELPER, PERSIST, FAIL, AUTHORIZE = range(7)
PURPOSE_REFRESH = 0
PHASE_FRESH = 2


def load(path):
    lib = ctypes.CDLL(path)
    u64, p = ctypes.c_uint64, ctypes.POINTER
    sig = {
        "bf_session_new": [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                           u64, p(ctypes.c_void_p)],
        "bf_session_free": [ctypes.c_void_p],
        "bf_session_set_tokens": [ctypes.c_void_p, Str, p(Str), p(u64), p(Str), u64],
        "bf_session_begin_request": [ctypes.c_void_p, u64, p(u64)],
        "bf_session_poll_action": [ctypes.c_void_p, p(Action)],
        "bf_session_handle_http_response": [ctypes.c_void_p, u64, ctypes.c_uint16, p(Header),
                                            ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                                            u64],
        "bf_session_handle_resource_response": [ctypes.c_void_p, u64, ctypes.c_uint16, p(Str),
                                                ctypes.c_size_t, u64, p(ctypes.c_uint32)],
        "bf_session_stats": [ctypes.c_void_p, p(Stats)],
        "bf_session_phase": [ctypes.c_void_p, u64, p(ctypes.c_uint32)],
        "bf_last_error": [p(Error)],
    }
    for name, args in sig.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = None if name.endswith("_free") else ctypes.c_uint32
    return lib


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def call(lib, name, *args):
    status = getattr(lib, name)(*args)
    if status != 0:
        err = Error()
        lib.bf_last_error(ctypes.byref(err))
        raise Failed(f"{name}: status {status}: {err.code.text()}: {err.message.text()}")


def drain(lib, session):
    out = []
    while True:
        action = Action()
        call(lib, "bf_session_poll_action", session, ctypes.byref(action))
        if action.kind == NONE:
            return out
        # Copy what is needed now: the pointers live until the next call.
        if action.kind == SEND:
            hs = [(action.send.headers[i].name.text(), action.send.headers[i].value.text())
                  for i in range(action.send.headers_len)]
            out.append(("send", action.send.id, hs))
        elif action.kind == FETCH:
            f = action.fetch
            body = ctypes.string_at(f.body.ptr, f.body.len).decode() if f.body.len else ""
            out.append(("fetch", f.id, f.purpose, f.method.text(), f.url.text(), body))
        elif action.kind == PERSIST:
            out.append(("persist", json.loads(action.persist.snapshot_json.text()),
                        action.persist.generation))
        elif action.kind == FAIL:
            out.append(("fail", action.fail.id, action.fail.error_code.text()))
        else:
            out.append(("other", action.kind))


def one_refresh(lib):
    config = json.dumps({
        "resource_url": "https://mcp.example.com/mcp",
        "credential": {
            "kind": "oauth",
            "client": {"client_id": "client-1", "auth_method": "none"},
            "token_endpoint": "https://auth.example.com/token",
            "issuer": "https://auth.example.com",
        },
    }).encode()
    seed = bytes(range(32))
    session = ctypes.c_void_p()
    call(lib, "bf_session_new", config, len(config), seed, len(seed), 0, ctypes.byref(session))
    try:
        access, keep_a = str_in("at-1")
        refresh, keep_r = str_in("rt-1")
        ttl = ctypes.c_uint64(60)
        call(lib, "bf_session_set_tokens", session, access, ctypes.byref(refresh),
             ctypes.byref(ttl), None, 0)
        first = drain(lib, session)
        check([a[0] for a in first] == ["persist"], f"set_tokens asked for {first}")

        now = 120_000  # two minutes: the 60-second token has expired
        rid = ctypes.c_uint64()
        call(lib, "bf_session_begin_request", session, now, ctypes.byref(rid))
        actions = drain(lib, session)
        check(len(actions) == 1 and actions[0][0] == "fetch", f"expected one fetch: {actions}")
        _, fetch_id, purpose, method, url, body = actions[0]
        check(purpose == PURPOSE_REFRESH, f"purpose {purpose}")
        check(method == "POST" and url == "https://auth.example.com/token", f"{method} {url}")
        check("grant_type=refresh_token" in body and "refresh_token=rt-1" in body, body)

        response = json.dumps({"access_token": "at-2", "token_type": "Bearer",
                               "expires_in": 60, "refresh_token": "rt-2"}).encode()
        ctype_name, ctype_keep = str_in("Content-Type")
        ctype_value, ctype_keep2 = str_in("application/json")
        headers = (Header * 1)(Header(ctype_name, ctype_value))
        call(lib, "bf_session_handle_http_response", session, fetch_id, 200, headers, 1,
             response, len(response), now + 50)
        actions = drain(lib, session)
        kinds = [a[0] for a in actions]
        check(kinds == ["persist", "send"], f"after the token response: {kinds}")
        snapshot = actions[0][1]
        check(snapshot["tokens"]["refresh_token"] == "rt-2", "the rotated refresh token")
        _, send_id, send_headers = actions[1]
        check(send_id == rid.value, "the send is for the request")
        check(send_headers == [("Authorization", "Bearer at-2")], f"headers {send_headers}")

        verdict = ctypes.c_uint32(99)
        call(lib, "bf_session_handle_resource_response", session, rid.value, 200, None, 0,
             now + 80, ctypes.byref(verdict))
        check(verdict.value == 0, "the 200 is delivered")
        stats = Stats()
        call(lib, "bf_session_stats", session, ctypes.byref(stats))
        check(stats.refresh_requests == 1, f"{stats.refresh_requests} refresh requests")
        phase = ctypes.c_uint32()
        call(lib, "bf_session_phase", session, now + 80, ctypes.byref(phase))
        check(phase.value == PHASE_FRESH, f"phase {phase.value}")
        del keep_a, keep_r, ctype_keep, ctype_keep2
    finally:
        lib.bf_session_free(session)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    lib = load(sys.argv[1])
    passed = failed = 0
    for name, test in [("ctypes::one_refresh", one_refresh)]:
        try:
            test(lib)
            passed += 1
            print(f"test {name} ... ok")
        except Failed as e:
            failed += 1
            print(f"test {name} ... FAILED\n    {e}")
    status = "ok" if failed == 0 else "FAILED"
    print(f"\ntest result: {status}. {passed} passed; {failed} failed; 0 ignored; "
          "0 measured; 0 filtered out")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
