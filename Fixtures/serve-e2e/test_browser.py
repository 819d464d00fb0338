"""The dashboard in headless Chromium (Debian's `chromium`, driven by Playwright): submit a
design, watch its bar reach 100 % and the final image appear, move the time-travel slider back
and see the preview (and, at the start, the skeleton) again. Screenshots go to
.build/screenshots/ (or $JOBLEDGER_SCREENSHOTS)."""
import os
import shutil
import time
import unittest

from serve_process import Server

SHOTS = os.environ.get("JOBLEDGER_SCREENSHOTS", os.path.join(os.getcwd(), ".build", "screenshots"))


def chromium_path():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    return None


def until(page, expression, timeout):
    """Waits until `expression` (JavaScript) is true in the page, for at most `timeout` ms.
    Playwright's wait_for_function evaluates its predicate with eval inside the page, which the
    dashboard's content security policy refuses; this evaluates it from outside, as the policy
    allows, and fails with the expression when time runs out."""
    deadline = time.monotonic() + timeout / 1000
    while time.monotonic() < deadline:
        if page.evaluate(expression):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"not true within {timeout} ms: {expression}")


class BrowserTests(unittest.TestCase):
    def launch(self, p):
        """Debian's Chromium, headless, under Playwright."""
        exe = chromium_path()
        self.assertIsNotNone(exe, "chromium is not installed (apt-get install chromium; .ci/run does it)")
        return p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])

    def test_dashboard_submit_live_progress_final_image_and_time_travel(self):
        from playwright.sync_api import sync_playwright
        os.makedirs(SHOTS, exist_ok=True)
        # Steps of 1.5 s keep the live preview on screen for seconds, not a fraction of one.
        with Server("--workers", "2", "--step-ms", "1500", "--fail-rate", "0", auth=False) as s, sync_playwright() as p:
            browser = self.launch(p)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(s.url + "/")
            page.fill("#prompt", "a red bicycle at dusk")
            page.click("#submit-button")
            page.wait_for_url("**/jobs/*", timeout=30000)
            page.wait_for_selector('#artefact[data-view="skeleton"]', timeout=30000)
            page.screenshot(path=os.path.join(SHOTS, "1-job-skeleton.png"))
            # The live preview: on a loaded machine the page may only catch up once the job is done,
            # so the final image is accepted here; time travel below checks the preview for certain.
            page.wait_for_selector('#artefact[data-view="preview"], #artefact[data-view="final"]', timeout=60000)
            page.screenshot(path=os.path.join(SHOTS, "2-job-preview.png"))
            until(page, "document.querySelector('#pct').textContent === '100%'", timeout=60000)
            page.wait_for_selector('#artefact[data-view="final"]', timeout=60000)
            until(page, "document.querySelector('#artefact-img').naturalWidth > 0", timeout=30000)
            self.assertEqual(page.text_content("#state"), "completed")
            self.assertEqual(page.get_attribute("#artefact-img", "alt"), "the final image of job " + page.get_attribute("#job", "data-job"))
            self.assertEqual(page.get_attribute(".bar.big", "aria-valuenow"), "100")
            until(page, 
                "[...document.querySelectorAll('#timeline tbody tr')].some(r => r.children[4].textContent === 'completed')", timeout=30000)
            self.assertIn("verified", page.text_content("#chain"))
            page.screenshot(path=os.path.join(SHOTS, "3-job-final.png"), full_page=True)

            # Time travel: back to the lowres event shows the preview again, to the first the skeleton.
            lowres = page.evaluate("[...document.querySelectorAll('#timeline tbody tr')].findIndex(r => r.children[4].textContent === 'lowres') + 1")
            self.assertGreater(lowres, 1)
            page.evaluate(f"(() => {{ const s = document.querySelector('#travel'); s.value = '{lowres}'; s.dispatchEvent(new Event('input')); }})()")
            page.wait_for_selector('#artefact[data-view="preview"]', timeout=10000)
            self.assertNotEqual(page.text_content("#state"), "completed")
            page.screenshot(path=os.path.join(SHOTS, "4-time-travel-preview.png"), full_page=True)
            page.evaluate("(() => { const s = document.querySelector('#travel'); s.value = '1'; s.dispatchEvent(new Event('input')); })()")
            page.wait_for_selector('#artefact[data-view="skeleton"]', timeout=10000)
            self.assertEqual(page.text_content("#state"), "queued")

            page.goto(s.url + "/")
            page.wait_for_selector('tr[data-state="completed"]', timeout=30000)

            # The list is live: a job submitted now and shown unfinished finishes on the same
            # page, with no reload (its row follows GET /api/live).
            job = page.evaluate("""async () => (await (await fetch('/api/design', {method: 'POST',
                headers: {'Content-Type': 'application/json'}, body: JSON.stringify({input: {prompt: 'a blue kite'}})})).json()).id""")
            row = None
            for _ in range(100):   # until the jobs projection has taken it in (milliseconds, usually)
                page.goto(s.url + "/")
                row = page.query_selector(f'tr[data-job="{job}"]')
                if row:
                    break
                page.wait_for_timeout(100)
            self.assertIsNotNone(row, "the new job never appeared in the list")
            self.assertNotEqual(row.get_attribute("data-state"), "completed")
            completed_before = int(page.text_content(".counts li.st-completed b"))
            page.wait_for_selector(f'tr[data-job="{job}"][data-state="running"]', timeout=60000)
            page.screenshot(path=os.path.join(SHOTS, "5-jobs.png"))
            page.wait_for_selector(f'tr[data-job="{job}"][data-state="completed"]', timeout=60000)
            self.assertEqual(page.text_content(f'tr[data-job="{job}"] .pct'), "100%")
            # The counts follow the rows, with no reload (they stayed as the page was made).
            until(page, f"document.querySelector('.counts li.st-completed b').textContent === '{completed_before + 1}'", timeout=10000)
            until(page, "document.querySelector('.counts li.st-running b').textContent === '0'", timeout=10000)
            page.goto(s.url + "/projections")
            page.screenshot(path=os.path.join(SHOTS, "6-projections.png"))
            browser.close()
            self.assertEqual(s.stop(), 0)

    def test_cancel_asks_first_and_a_job_that_ended_without_an_image_shows_no_image(self):
        """Cancel asks before it acts (it cannot be undone), and a job that ended without an
        image (canceled while queued) shows a still "no image", not the loading shimmer, which
        used to run for ever on such a job."""
        from playwright.sync_api import sync_playwright
        with Server("--workers", "0", auth=False) as s, sync_playwright() as p:
            browser = self.launch(p)
            page = browser.new_page()
            page.goto(s.url + "/")
            job = page.evaluate("""async () => (await (await fetch('/api/design', {method: 'POST',
                headers: {'Content-Type': 'application/json'}, body: JSON.stringify({input: {prompt: 'never run'}})})).json()).id""")
            page.goto(s.url + "/jobs/" + job)
            page.wait_for_selector('#artefact[data-view="skeleton"]', timeout=30000)
            self.assertEqual(page.get_attribute(".bar.big", "role"), "progressbar")
            self.assertEqual(page.get_attribute(".bar.big", "aria-valuenow"), "0")
            asked = []
            page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
            page.click("#cancel")
            page.evaluate("1")   # a round trip to the page, which the dialog held until it was handled
            self.assertEqual(len(asked), 1, "Cancel must ask first")
            self.assertIn(job, asked[0])
            state = page.evaluate(f"async () => (await (await fetch('/api/jobs/{job}')).json()).state")
            self.assertEqual(state, "queued", "a dismissed Cancel must cancel nothing")
            page.once("dialog", lambda d: d.accept())
            page.click("#cancel")
            page.wait_for_selector('#job[data-state="canceled"]', timeout=30000)
            page.wait_for_selector('#artefact[data-view="none"]', timeout=30000)
            self.assertEqual(page.get_attribute("#artefact", "aria-label"), "no image")
            browser.close()
            self.assertEqual(s.stop(), 0)

    def test_job_page_reopens_a_stream_the_server_will_not_resume(self):
        """A `Last-Event-ID` past the log's head (the log replaced by an older copy) is refused
        with 400, and the browser's EventSource then gives up for good. The job page opens a new
        stream without the id, which starts with every message of the job, and follows it to the
        end. (It used to stop updating until reloaded.)"""
        from playwright.sync_api import sync_playwright
        with Server("--workers", "1", "--step-ms", "200", "--fail-rate", "0", auth=False) as s, sync_playwright() as p:
            browser = self.launch(p)
            page = browser.new_page()
            answers = []   # the status each stream request of the page got
            routed = []

            def stream(route):
                routed.append(route.request.url)
                if len(routed) > 1:
                    route.continue_()
                    return
                # The first stream stands for a newer log's: a message with an id this log never
                # reached, then its end, so that the browser resumes from that id (100 ms later).
                # (Chromium adds Last-Event-ID below what Playwright sees of the request: the 400
                # is what shows it was sent.)
                route.fulfill(status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
                              body='retry: 100\n\nid: 999999\nevent: message\n'
                                   'data: {"state": "running", "attempt": 1, "progress": 0.5, "message": "from a newer log"}\n\n')

            page.on("response", lambda r: answers.append(r.status) if r.url.endswith("/stream") else None)
            page.route("**/api/jobs/*/stream", stream)
            page.goto(s.url + "/")
            page.fill("#prompt", "a green lamp")
            page.click("#submit-button")
            page.wait_for_url("**/jobs/*", timeout=30000)
            until(page, "document.querySelector('#state').textContent === 'completed'", timeout=30000)
            self.assertEqual(page.text_content("#pct"), "100%")
            # Fresh, resumed from the id past the head (400), fresh again: no more.
            self.assertEqual(answers, [200, 400, 200])
            browser.close()
            self.assertEqual(s.stop(), 0)

    def test_a_retried_jobs_page_shows_its_last_word_not_an_earlier_failure(self):
        """The job's stream starts with every message of the job: for a job that failed, was
        retried and completed, an earlier `failed` comes first. The page closed its stream on
        the first finished message and showed "failed" for good. It now knows the job's version
        from when it was made, and only a finished message at least that new ends it."""
        from playwright.sync_api import sync_playwright
        with Server("--workers", "1", "--step-ms", "20", "--fail-rate", "0", auth=False) as s, sync_playwright() as p:
            browser = self.launch(p)
            page = browser.new_page()
            page.goto(s.url + "/")
            job = page.evaluate("""async () => (await (await fetch('/api/design', {method: 'POST',
                headers: {'Content-Type': 'application/json'}, body: JSON.stringify({input: {prompt: 'a retried kite'}})})).json()).id""")
            version = None
            for _ in range(300):
                state = page.evaluate(f"async () => (await (await fetch('/api/jobs/{job}')).json())")
                if state["state"] == "completed":
                    version = state["version"]
                    break
                page.wait_for_timeout(100)
            self.assertIsNotNone(version, "the job did not complete")
            # The stream of a job that failed, was retried, then completed (as the server sends it).
            def message(seq, state, v, progress):
                return (f'id: {seq}\nevent: message\ndata: {{"job": "{job}", "seq": {seq}, "version": {v}, "state": "{state}", '
                        f'"attempt": 1, "progress": {progress}, "message": "{state}"}}\n\n')
            body = "retry: 100\n\n" + message(1, "failed", 2, 0.2) + message(2, "queued", 3, 0) + message(3, "completed", version, 1)
            page.route("**/api/jobs/*/stream", lambda route: route.fulfill(
                status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}, body=body))
            page.goto(s.url + f"/jobs/{job}")
            until(page, "document.querySelector('#message').textContent === 'completed'", timeout=30000)
            page.wait_for_timeout(500)   # the timeline loads 150 ms after a message and shows the latest again
            self.assertEqual(page.text_content("#state"), "completed")
            self.assertEqual(page.text_content("#pct"), "100%")
            browser.close()
            self.assertEqual(s.stop(), 0)

    def test_a_job_page_shows_an_image_published_by_a_redrive_after_its_message_went_out(self):
        """An upload that was dead when its message was taken in leaves the message without a
        URL for good (Broadcast.md); re-driven and published, the job's row has the URL. The job
        page drew only from the messages and said "no image" of a job the API served an image
        for; it now fills a last word's missing images in from the row."""
        from playwright.sync_api import sync_playwright
        server = Server("--workers", "1", "--step-ms", "0", "--fail-rate", "0", "--max-attempts", "1", auth=False)
        blobs = server.db + ".blobs"
        with open(blobs, "w"):   # a file where the blob folder goes: every upload fails, and dies at once
            pass
        with server as s, sync_playwright() as p:
            browser = self.launch(p)
            page = browser.new_page()
            page.goto(s.url + "/")
            fetch_json = "async (u) => (await fetch(u)).json()"
            job = page.evaluate("""async () => (await (await fetch('/api/design', {method: 'POST',
                headers: {'Content-Type': 'application/json'}, body: JSON.stringify({input: {prompt: 'a late image'}})})).json()).id""")
            def blob_dead():
                ps = page.evaluate(fetch_json, "/api/projections")["projections"]
                return next(x for x in ps if x["name"] == "blob")["dead"]
            for _ in range(300):
                if page.evaluate(fetch_json, f"/api/jobs/{job}")["state"] == "completed" and blob_dead() == 2:
                    break
                page.wait_for_timeout(100)
            self.assertEqual(blob_dead(), 2, "both uploads should be dead")
            self.assertIsNone(page.evaluate(fetch_json, f"/api/jobs/{job}")["result_url"])
            os.remove(blobs)
            status = page.evaluate("async () => (await fetch('/api/projections/blob/redrive', {method: 'POST'})).status")
            self.assertEqual(status, 200)
            row = None
            for _ in range(300):
                row = page.evaluate(fetch_json, f"/api/jobs/{job}")
                if row["result_url"]:
                    break
                page.wait_for_timeout(100)
            self.assertTrue(row["result_url"], "the re-driven upload was not published")
            # The messages the page replays still carry no URL; the image is shown all the same.
            page.goto(s.url + f"/jobs/{job}")
            page.wait_for_selector('#artefact[data-view="final"]', timeout=30000)
            until(page, "document.querySelector('#artefact-img').naturalWidth > 0", timeout=30000)
            self.assertEqual(page.get_attribute("#artefact-img", "src"), row["result_url"])
            browser.close()
            self.assertEqual(s.stop(), 0)

    def test_job_page_follows_a_job_without_the_servers_broadcasts(self):
        """With --no-effects (or broadcasts going to AnyCable) the stream routes answer 409: the
        job page retried them for ever and stayed where it was. It reads the job instead.

        The timeline is read whole once, then only what is new (`?after=<last seq>`): it used to
        read the whole history again on every change. And time travel, with no broadcast message
        recorded to show, shows the job as of that event from the history: the big state and bar
        stayed on the final "completed 100%" while the info line said "state running"."""
        from playwright.sync_api import sync_playwright
        with Server("--no-effects", "--workers", "1", "--step-ms", "200", "--fail-rate", "0", auth=False) as s, sync_playwright() as p:
            browser = self.launch(p)
            page = browser.new_page()
            streams = []
            histories = []
            page.on("request", lambda r: streams.append(r.url) if "/stream" in r.url else None)
            page.on("request", lambda r: histories.append(r.url) if "/events" in r.url else None)
            page.goto(s.url + "/")
            page.fill("#prompt", "a quiet lamp")
            page.click("#submit-button")
            page.wait_for_url("**/jobs/*", timeout=30000)
            until(page, "document.querySelector('#state').textContent === 'completed'", timeout=60000)
            self.assertEqual(page.text_content("#pct"), "100%")
            until(page, 
                "[...document.querySelectorAll('#timeline tbody tr')].some(r => r.children[4].textContent === 'completed')", timeout=30000)
            self.assertEqual(streams, [])
            # Whole once, then only the events after the last one shown; no row twice, none missing.
            self.assertTrue(histories, "the timeline was never read")
            self.assertNotIn("after=", histories[0])
            for url in histories[1:]:
                self.assertIn("after=", url)
            seqs = page.evaluate("[...document.querySelectorAll('#timeline tbody tr')].map(r => Number(r.children[1].textContent))")
            self.assertEqual(seqs, sorted(set(seqs)))
            version = page.evaluate(f"async () => (await (await fetch('/api/jobs/{page.url.rsplit('/', 1)[1]}')).json()).version")
            self.assertEqual(len(seqs), version)
            self.assertEqual(page.evaluate("document.querySelector('#travel').max"), str(version))
            # Back to the job's start: the state and the bar agree with the event the slider is on.
            page.evaluate("(() => { const s = document.querySelector('#travel'); s.value = '2'; s.dispatchEvent(new Event('input')); })()")
            self.assertIn("state running", page.text_content("#travel-info"))
            self.assertEqual(page.text_content("#state"), "running")
            self.assertNotEqual(page.text_content("#pct"), "100%")
            page.evaluate("(() => { const s = document.querySelector('#travel'); s.value = '1'; s.dispatchEvent(new Event('input')); })()")
            self.assertEqual(page.text_content("#state"), "queued")
            self.assertEqual(page.text_content("#pct"), "0%")
            browser.close()
            self.assertEqual(s.stop(), 0)

    def test_a_polled_list_follows_its_own_page_and_jobs_that_leave_its_filter(self):
        """Without the server's broadcasts the list polls: it polled the first page whatever page
        it showed, so a later page's rows stayed "queued" for ever; and a job that left the
        state filtered on (running, then completed) was no longer returned, so its row stayed
        "running" and the polling never ended. It polls its own page, asks for such a job by
        itself, and stops once every row has finished."""
        import json
        import urllib.request
        from playwright.sync_api import sync_playwright

        def call(s, method, path, body=None):
            data = json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(s.url + path, data=data, method=method, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req) as r:
                return json.loads(r.read())

        with Server("--no-effects", "--workers", "1", "--step-ms", "300", "--fail-rate", "0", auth=False,
                    env={"JOBLEDGER_RATE_LIMIT": "1000/60s"}) as s, sync_playwright() as p:
            for i in range(55):
                call(s, "POST", "/api/design", {"input": {"prompt": f"poster {i}"}})
            browser = self.launch(p)
            page = browser.new_page()
            polls = []
            page.on("request", lambda r: polls.append(r.url) if "/api/jobs" in r.url else None)
            # The second page: the five oldest jobs, which the one worker takes first.
            until_cursor = time.monotonic() + 30
            while True:
                first = call(s, "GET", "/api/jobs?limit=50")
                if first["next_cursor"] and len(first["jobs"]) == 50:
                    break
                self.assertLess(time.monotonic(), until_cursor, "the jobs table did not list 55 jobs")
                time.sleep(0.05)
            page.goto(s.url + "/?cursor=" + first["next_cursor"])
            self.assertEqual(page.evaluate("document.querySelectorAll('#jobs tr[data-job]').length"), 5)
            until(page, "[...document.querySelectorAll('#jobs tr[data-job]')].every(r => r.dataset.state === 'completed')", timeout=60000)
            # The running job alone, as the list filtered on running shows it: followed to its end.
            # (Loaded again while it lists none: between two jobs the table may have no running row.)
            shown = 0
            for _ in range(100):
                page.goto(s.url + "/?state=running")
                shown = page.evaluate("document.querySelectorAll('#jobs tr[data-job]').length")
                if shown == 1:
                    break
            self.assertEqual(shown, 1)
            until(page, "[...document.querySelectorAll('#jobs tr[data-job]')].every(r => r.dataset.state === 'completed')", timeout=30000)
            # Every row finished: the polling has stopped.
            page.wait_for_timeout(1200)
            polls.clear()
            page.wait_for_timeout(2500)
            self.assertEqual(polls, [])
            browser.close()
            self.assertEqual(s.stop(), 0)

    def test_a_double_click_on_submit_queues_one_job(self):
        """The form sent a request per click, with no Idempotency-Key: a double click queued two
        jobs. The button waits for the answer, and each send carries a key."""
        import json
        import urllib.request
        from playwright.sync_api import sync_playwright
        with Server("--workers", "0", auth=False) as s, sync_playwright() as p:
            browser = self.launch(p)
            page = browser.new_page()
            keys = []
            page.on("request", lambda r: keys.append(r.headers.get("idempotency-key")) if r.url.endswith("/api/design") else None)
            page.goto(s.url + "/")
            page.fill("#prompt", "twice")
            page.dblclick("#submit-button")
            page.wait_for_url("**/jobs/*", timeout=30000)
            with urllib.request.urlopen(s.url + "/api/jobs/" + page.url.rsplit("/", 1)[1]) as r:
                self.assertEqual(json.loads(r.read())["state"], "queued")
            # Counted from the jobs table once it has taken in the whole log (its lag 0).
            deadline = time.monotonic() + 30
            while True:
                with urllib.request.urlopen(s.url + "/metrics") as r:
                    caught_up = 'jobledger_projection_lag{projection="jobs"} 0' in r.read().decode()
                with urllib.request.urlopen(s.url + "/api/jobs?limit=10") as r:
                    total = sum(json.loads(r.read())["counts"].values())
                if caught_up and total >= 1:
                    break
                self.assertLess(time.monotonic(), deadline, "the jobs table did not catch up")
                time.sleep(0.05)
            self.assertEqual(total, 1)
            self.assertTrue(keys and all(keys), f"every send carries a key: {keys}")
            browser.close()
            self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
