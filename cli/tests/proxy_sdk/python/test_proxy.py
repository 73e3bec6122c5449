"""The official MCP Python SDK (PyPI `mcp`) launching `bearerflow proxy` as a stdio
server, against the testbed with 5-second tokens and rotating refresh tokens.

Run by `cargo xtask ci` (xtask/src/proxy.rs) in a venv under target/, with
BEARERFLOW_BIN pointing at the `bearerflow` binary. Ends with libtest's summary line
so the run is counted like the Rust tests.

Both of the SDK's modes: "auto" (it probes `server/discover`: a 2026-07-28 client, so
the bridge passes the stateless wire through and the SDK answers `input_required`
itself) and "legacy" (the `initialize` handshake: the bridge translates to the
2026-07-28 server, and the elicitation reaches the SDK as a server request).
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import mcp_types as types
from mcp import Client, StdioServerParameters

BIN = os.environ.get("BEARERFLOW_BIN", "bearerflow")
DEADLINE = 60.0


class Testbed:
    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [BIN, "testbed", "--ttl", "5s", "--interactive-tools", *args],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = json.loads(self.proc.stdout.readline())
        self.url = self.info["mcp_url"]
        self.origin = self.url.rsplit("/", 1)[0]

    def counters(self):
        with urllib.request.urlopen(self.origin + "/_testbed/counters") as r:
            return json.load(r)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def stored_expiry(store):
    with open(store) as f:
        return json.load(f)["tokens"]["expires_at"]


async def until_expired(store):
    """Wait for the event "the stored token has expired" (its expiry is in the file)."""
    expires = stored_expiry(store) / 1000.0 + 0.1
    await asyncio.sleep(max(0.0, expires - time.time()))


async def echo(client, text):
    result = await client.call_tool("echo", {"text": text})
    assert not result.is_error, result
    return result.content[0].text


class ProxyWithPythonSdk(unittest.IsolatedAsyncioTestCase):
    async def lifecycle(self, mode):
        tb = Testbed()
        self.addCleanup(tb.stop)
        store_dir = tempfile.mkdtemp(prefix="bearerflow-py-")
        self.addCleanup(shutil.rmtree, store_dir, ignore_errors=True)
        store = os.path.join(store_dir, "tokens.json")
        logs = []

        async def on_log(params):
            logs.append(params)

        async def on_elicit(context, params):
            return types.ElicitResult(action="accept", content={"confirmed": True})

        server = StdioServerParameters(
            command=BIN, args=["proxy", tb.url, "--headless", "--store", store]
        )
        async with Client(
            server,
            mode=mode,
            elicitation_callback=on_elicit,
            logging_callback=on_log,
            log_level="info",
        ) as client:
            self.assertEqual(await echo(client, "hello"), "hello")
            start = tb.counters()
            self.assertEqual(start["authorizations"], 1, "one authorization to connect")
            self.assertGreaterEqual(start["unauthorized"], 1, "the first request's 401 started OAuth")
            calls = 0
            for expiry in (1, 2, 3):
                await until_expired(store)
                before = tb.counters()
                if expiry < 3:
                    for i in range(4):
                        self.assertEqual(await echo(client, f"e{expiry}-{i}"), f"e{expiry}-{i}")
                        calls += 1
                else:
                    outcomes = await asyncio.gather(
                        *(echo(client, f"burst-{i}") for i in range(32)), return_exceptions=True
                    )
                    failed = [o for o in outcomes if isinstance(o, BaseException)]
                    self.assertEqual(failed, [], "no call of the burst failed")
                    calls += 32
                after = tb.counters()
                self.assertEqual(after["token_refresh"] - before["token_refresh"], 1, f"expiry {expiry}: one refresh")
            end = tb.counters()
            self.assertEqual(end["token_refresh"] - start["token_refresh"], 3)
            self.assertEqual(end["refresh_reuse_detected"], 0)
            self.assertEqual(end["authorizations"], 1, "no new authorization")
            self.assertEqual(end["token_errors"], 0)
            self.assertEqual(calls, 40)
            # A notification and a server-to-client request cross the bridge.
            result = await client.call_tool("interact", {"text": "py"})
            self.assertEqual(result.content[0].text, "confirmed: py")
            self.assertTrue(any("interact" in str(p.data) for p in logs), logs)
            c = tb.counters()
            self.assertEqual(c["server_requests"], 1)
            self.assertEqual(c["client_responses"], 1)
            self.assertEqual(c["initializations"], 0, "the 2026-07-28 server was spoken to statelessly")

    async def test_auto_mode_three_expiries_and_a_burst_of_32(self):
        await self.lifecycle("auto")

    async def test_legacy_mode_three_expiries_and_a_burst_of_32(self):
        await self.lifecycle("legacy")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    verdict = "ok" if failed == 0 else "FAILED"
    print(
        f"test result: {verdict}. {passed} passed; {failed} failed; {len(result.skipped)} ignored; 0 measured; 0 filtered out"
    )
    sys.exit(0 if failed == 0 else 1)
