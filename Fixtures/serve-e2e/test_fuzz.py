"""schemathesis against the served OpenAPI document: every operation, generated inputs (valid
and invalid), no 5xx, every response as documented (status, content type, schema)."""
import os
import shutil
import subprocess
import sys
import unittest

from serve_process import Server, token


class FuzzTests(unittest.TestCase):
    def test_schemathesis_finds_no_server_error_and_no_undocumented_response(self):
        st = os.path.join(os.path.dirname(sys.executable), "schemathesis")
        self.assertTrue(os.path.exists(st), "schemathesis is not installed (Fixtures/setup-venv.sh)")
        admin = token("user_fuzz", role="admin")
        # A generous limit so the fuzzer is not refused by it (429 is documented, but it would
        # hide the other routes' behaviour).
        with Server("--workers", "1", "--step-ms", "0", "--max-stream-seconds", "2", env={"JOBLEDGER_RATE_LIMIT": "100000/60s"}) as s:
            r = subprocess.run([st, "run", s.url + "/openapi.json", "--url", s.url,
                                "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
                                "--max-examples", os.environ.get("JOBLEDGER_FUZZ_EXAMPLES", "40"),
                                "--header", f"Authorization: Bearer {admin}",
                                "--seed", "1", "--no-color"],
                               capture_output=True, text=True, timeout=1200)
            out = r.stdout + r.stderr
            # Beside the screenshots' folder, which may not exist yet (the browser suite makes it).
            folder = os.path.normpath(os.path.join(os.environ.get("JOBLEDGER_SCREENSHOTS", ".build/screenshots"), ".."))
            os.makedirs(folder, exist_ok=True)
            report = os.path.join(folder, "schemathesis.txt")
            with open(report, "w") as f:
                f.write(out)
            self.assertEqual(r.returncode, 0, out[-6000:])
            self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
