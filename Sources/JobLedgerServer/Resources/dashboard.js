// JobLedger dashboard: plain JavaScript, no build step. Authenticates with the __session
// cookie (same-origin requests and EventSource send it), as Clerk's own pages do.
"use strict";
(function () {
  const $ = (s) => document.querySelector(s);
  const pct = (p) => Math.round((p || 0) * 100);

  async function api(method, path, body, headers) {
    const init = { method, credentials: "same-origin", headers: Object.assign({}, headers || {}) };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const r = await fetch(path, init);
    const text = await r.text();
    let json = null; try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
    if (!r.ok) { throw new Error(json && json.detail ? json.detail : r.status + " " + r.statusText); }
    return json;
  }

  // Sign in: keep the token in the __session cookie (Secure when the page came over HTTPS, so
  // the browser never sends it in clear). Sign out: forget it.
  const secure = location.protocol === "https:" ? "; Secure" : "";
  const signin = $("#signin");
  if (signin) signin.addEventListener("submit", (e) => {
    e.preventDefault();
    document.cookie = "__session=" + encodeURIComponent($("#token").value.trim()) + "; path=/; SameSite=Strict" + secure;
    location.reload();
  });
  const signout = $("#signout");
  if (signout) signout.addEventListener("click", (e) => {
    e.preventDefault();
    document.cookie = "__session=; path=/; max-age=0; SameSite=Strict" + secure;
    location.href = "/";
  });

  // The jobs list: submit, and live bars.
  const submit = $("#submit-job");
  if (submit) submit.addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#submit-error").textContent = "";
    // One job per click, however often the form is sent meanwhile (a double click queued two):
    // the button waits for the answer, and the key makes a resent request the same job.
    const button = $("#submit-button");
    if (button.disabled) return;
    button.disabled = true;
    const key = "dashboard-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
    try {
      const r = await api("POST", "/api/design", { input: { prompt: $("#prompt").value } }, { "Idempotency-Key": key });
      location.href = "/jobs/" + r.id;
    } catch (err) { $("#submit-error").textContent = err.message; button.disabled = false; }
  });
  const jobsTable = $("#jobs");
  if (jobsTable) {
    // Live bars. One stream of the shown jobs' messages (GET /api/live): each job's latest
    // message first, then every newer one; each carries its job's whole state, and one older
    // than what a row shows (broadcasts may lag the list) is dropped by its version. Closed once
    // every job shown has finished. Where broadcasts go to AnyCable, the list is polled instead.
    const finished = ["completed", "failed", "canceled"];
    const rows = () => [...jobsTable.querySelectorAll("tr[data-job]")];
    const shown = {};  // job -> the version its row shows
    for (const r of rows()) shown[r.dataset.job] = Number(r.dataset.version || 0);
    const unfinished = () => rows().some((r) => !finished.includes(r.dataset.state));
    // The counts per state follow the rows: read again (at most once a second) when a shown job
    // changes state, under the page's kind filter as the page counted them. They stayed as the
    // page was made while its rows went on to "completed".
    const counts = $(".counts");
    let countsDue = null, settled = false;
    function refreshCounts() {
      if (!counts || countsDue) return;
      countsDue = setTimeout(async () => {
        countsDue = null;
        try {
          const q = new URLSearchParams({ limit: "1" });
          const kind = new URLSearchParams(location.search).get("kind");
          if (kind) q.set("kind", kind);
          const r = await api("GET", "/api/jobs?" + q.toString());
          let total = 0;
          for (const [state, n] of Object.entries(r.counts || {})) {
            total += n;
            const b = counts.querySelector("li.st-" + state + " b");
            if (b) b.textContent = String(n);
          }
          const all = counts.querySelector("li:not([class]) b");
          if (all) all.textContent = String(total);
          // Once every row has finished, once more a little later: the counts come from the jobs
          // table (cached up to a second), which may trail the messages that moved the rows.
          if (!unfinished() && !settled) { settled = true; setTimeout(refreshCounts, 2000); }
        } catch (err) { /* keep the counts shown */ }
      }, 1000);
    }
    function show(j) {
      if ((shown[j.id] || 0) > j.version) return;
      shown[j.id] = j.version;
      const row = jobsTable.querySelector('tr[data-job="' + j.id + '"]');
      if (!row) return;
      if (row.dataset.state !== j.state) refreshCounts();
      row.dataset.state = j.state;
      row.querySelector(".fill").style.width = pct(j.progress) + "%";
      row.querySelector(".bar").setAttribute("aria-valuenow", pct(j.progress));
      row.querySelector(".pct").textContent = pct(j.progress) + "%";
      const st = row.querySelector(".state"); st.textContent = j.state; st.className = "state st-" + j.state;
      row.querySelector(".msg").textContent = j.message || "";
    }
    if (rows().length && unfinished()) {
      if (jobsTable.dataset.live === "sse" && window.EventSource) {
        // When the server refuses a reconnect (a 429 or 503, say) the browser gives up for good
        // (readyState CLOSED) and the bars would stop. Then a new stream is opened, as the job
        // page does: after a delay doubling per failure in a row (1 s up to 60 s, jittered), back
        // to 1 s once a message arrives. It starts with each job's latest message again, and a
        // message older than what a row shows is dropped by its version.
        let reopenDelay = 1000;
        const follow = () => {
          const source = new EventSource("/api/live?jobs=" + rows().map((r) => r.dataset.job).join(","));
          source.onmessage = (e) => {
            reopenDelay = 1000;
            const m = JSON.parse(e.data);
            show({ id: m.job, version: m.version, state: m.state, progress: m.progress, message: m.message });
            if (!unfinished()) source.close();
          };
          source.onerror = () => {
            if (source.readyState !== EventSource.CLOSED || !unfinished()) return;
            const wait = reopenDelay / 2 + Math.random() * reopenDelay / 2;
            reopenDelay = Math.min(reopenDelay * 2, 60000);
            setTimeout(follow, wait);
          };
        };
        follow();
      } else {
        // The page's own query (its filters and its cursor: a later page polled the first one,
        // and its rows stayed as they were), and each shown job that query no longer returns
        // (one that left the state filtered on) by itself: else its row stayed "running 60%"
        // and the polling never ended.
        const params = new URLSearchParams(location.search);
        const q = new URLSearchParams({ limit: "50" });
        for (const name of ["state", "kind", "cursor"]) if (params.get(name)) q.set(name, params.get(name));
        const timer = setInterval(async () => {
          try {
            const r = await api("GET", "/api/jobs?" + q.toString());
            for (const j of r.jobs) show(j);
            const returned = new Set(r.jobs.map((j) => j.id));
            for (const row of rows()) {
              if (returned.has(row.dataset.job) || finished.includes(row.dataset.state)) continue;
              show(await api("GET", "/api/jobs/" + encodeURIComponent(row.dataset.job)));
            }
            if (!unfinished()) clearInterval(timer);
          } catch (err) { /* keep the last picture */ }
        }, 1000);
      }
    }
  }

  // A job: live over SSE, the timeline, time travel, admin actions.
  const jobEl = $("#job");
  const finishedStates = ["completed", "failed", "canceled"];
  if (jobEl) {
    const id = jobEl.dataset.job;
    // The job's version when the page was made: a finished message older than it was followed
    // by a retry (the stream starts with every message of the job, an earlier failure's too).
    const pageVersion = Number(jobEl.dataset.version || 0);
    const isLastWord = (m) => finishedStates.includes(m.state) && (m.version || 0) >= pageVersion;
    let events = [];
    let latest = null;          // the newest message received
    let travelling = false;

    function render(m) {
      if (!m) return;
      $("#state").textContent = m.state; $("#state").className = "st-" + m.state;
      $("#attempt").textContent = m.attempt;
      $("#fill").style.transition = travelling ? "none" : "";
      $("#fill").style.width = pct(m.progress) + "%";
      $("#fill").parentElement.setAttribute("aria-valuenow", pct(m.progress));
      $("#pct").textContent = pct(m.progress) + "%";
      $("#message").textContent = m.message || "";
      // An earlier attempt's error is not the word on a job that then completed or was
      // canceled (a retried job showed its old failure in red beside its final image).
      const erred = m.error && (m.state === "failed" || m.state === "queued" || m.state === "running");
      $("#error").textContent = erred ? m.error.code + ": " + m.error.message + (m.state === "failed" ? "" : " (attempt " + m.error.attempt + ")") : "";
      const art = $("#artefact"), img = $("#artefact-img");
      // A job that ended with no image (canceled while queued, failed, or its uploads dead)
      // shows a still "no image", not a loading shimmer that never ends.
      const ended = finishedStates.includes(m.state);
      const view = m.result_url ? "final" : m.preview_url ? "preview" : ended ? "none" : "skeleton";
      art.dataset.view = view; art.className = "artefact " + view;
      if (view === "skeleton" || view === "none") { img.hidden = true; img.removeAttribute("src"); img.alt = ""; }
      else {
        const src = m.result_url || m.preview_url; if (img.getAttribute("src") !== src) img.src = src; img.hidden = false;
        img.alt = (view === "final" ? "the final image of job " : "the low-resolution preview of job ") + id;
      }
      art.setAttribute("aria-label", view === "skeleton" ? "no image yet" : view === "none" ? "no image" : img.alt);
      jobEl.dataset.state = m.state;
      const cancel = $("#cancel"), retry = $("#retry");
      if (cancel && !travelling) cancel.hidden = ["completed", "failed", "canceled"].includes(m.state);
      if (retry && !travelling) retry.hidden = m.state !== "failed";
    }

    // The job as of event `index` (1-based) folded from the history itself: for a server that
    // records no broadcast messages (--no-effects), so that the big state and bar agree with the
    // event the slider is on. The images are the job's own, once the history has reached them.
    function asOf(index) {
      const m = { state: "queued", progress: 0, attempt: 0, message: "", error: null, preview_url: null, result_url: null };
      for (let i = 0; i < Math.min(index, events.length); i++) {
        const e = events[i], p = e.payload || {};
        m.state = e.state; m.progress = e.progress; m.version = e.version;
        if (e.type === "queued") { m.preview_url = null; m.result_url = null; m.message = ""; }
        if (e.type === "started") { m.attempt = p.attempt || m.attempt; m.message = ""; }
        if (e.type === "progress" && p.message) m.message = p.message;
        if (e.type === "lowres") m.preview_url = latest && latest.preview_url || null;
        if (e.type === "completed") m.result_url = latest && latest.result_url || null;
        if (e.type === "failed") m.error = { code: p.code, message: p.message, attempt: p.attempt };
      }
      return m;
    }

    let currentRow = null;
    function travelTo(index) {
      // The browser's view as of event `index` (1-based): the last message sent for it or before;
      // without one (no broadcasts recorded), the job as of that event from the history.
      const label = $("#travel-label");
      let m = null;
      for (let i = 0; i < Math.min(index, events.length); i++) if (events[i].broadcast && events[i].broadcast.message) m = events[i].broadcast.message;
      const e = events[index - 1];
      travelling = index < events.length;
      label.textContent = "v" + index + (travelling ? "" : " (now)");
      $("#travel-info").textContent = e ? e.type + " at " + e.recorded_at + " · state " + e.state + " · " + e.change : "";
      if (currentRow) currentRow.classList.remove("travel-current");
      currentRow = travelling ? rows[index - 1] || null : null;
      if (currentRow) currentRow.classList.add("travel-current");
      render(travelling ? (m || asOf(index)) : (latest || m || (events.length ? asOf(index) : null)));
    }

    function row(e) {
      const tr = document.createElement("tr");
      tr.dataset.seq = e.seq;
      const sent = e.broadcast ? e.broadcast.status + (e.broadcast.message ? " · " + e.broadcast.message.state + " " + pct(e.broadcast.message.progress) + "%" : "") : "—";
      for (const v of ["v" + e.version, e.seq, e.recorded_at, e.since_previous_ms === null ? "" : e.since_previous_ms, e.type, e.change, null, e.chain_verified ? "✓" : "✗", sent]) {
        const td = document.createElement("td");
        if (v === null) { const c = document.createElement("code"); c.className = "hash"; c.title = e.hash; c.textContent = e.hash.slice(0, 12); td.appendChild(c); }
        else td.textContent = v;
        tr.appendChild(td);
      }
      return tr;
    }

    // The timeline is read once, then only what is new: `?after=<the last seq shown>` (in pages
    // of 1000, `next_after` saying where the rest starts), its rows appended. The rows are built
    // 500 at a time into a fragment, yielding between, so a history of tens of thousands of
    // events does not freeze the page while it is drawn.
    const rows = [];
    const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
    async function appendRows(fresh) {
      const body = $("#timeline tbody");
      for (let i = 0; i < fresh.length; i += 500) {
        if (i > 0) await tick();
        const frag = document.createDocumentFragment();
        for (const e of fresh.slice(i, i + 500)) { const tr = row(e); rows.push(tr); frag.appendChild(tr); }
        body.appendChild(frag);
      }
    }

    function showChain(c) {
      const chain = $("#chain");
      const removed = c.removed_rules || [];
      chain.textContent = (c.broken_at ? "hash chain broken at seq " + c.broken_at : "hash chain verified through seq " + c.verified_through)
        + (removed.length ? "; integrity rules removed from the log: " + removed.join(", ") : "");
      chain.className = "chain " + (c.broken_at || removed.length ? "broken" : "ok");
      // Rows already shown keep up with the verdict: verified up to `verified_through`.
      for (let i = 0; i < events.length; i++) {
        const ok = events[i].seq <= c.verified_through;
        if (ok !== events[i].chain_verified) { events[i].chain_verified = ok; rows[i].children[7].textContent = ok ? "✓" : "✗"; }
      }
    }

    async function fetchNew() {
      for (;;) {
        const after = events.length ? events[events.length - 1].seq : 0;
        const r = await api("GET", "/api/jobs/" + id + "/events" + (events.length ? "?after=" + after + "&limit=1000" : ""));
        const fresh = r.events.filter((e) => e.seq > after);
        await appendRows(fresh);
        events = events.concat(fresh);
        showChain(r.chain);
        const slider = $("#travel");
        const wasAtEnd = !travelling;
        slider.max = String(events.length);
        if (wasAtEnd) slider.value = String(events.length);
        travelTo(Number(slider.value));
        if (r.next_after === null || r.next_after === undefined || !fresh.length) return;
      }
    }

    // One fetch at a time: an update that comes meanwhile asks for one more round after it.
    let syncing = null, again = false;
    function loadTimeline() {
      if (syncing) { again = true; return syncing; }
      syncing = (async () => {
        try { do { again = false; await fetchNew(); } while (again); } finally { syncing = null; }
      })();
      return syncing;
    }

    $("#travel").addEventListener("input", (e) => travelTo(Number(e.target.value)));
    let pending = null;
    // The job's stream. After a dropped connection an EventSource reconnects by itself, resuming
    // with Last-Event-ID. When the server will not resume (a 400: that id is past the log's head,
    // the log having been replaced by an older copy; or a 401, 429 or 503) the browser gives up
    // for good (readyState CLOSED) and the page would stop updating. Then a new EventSource is
    // opened: it sends no Last-Event-ID, so it starts with every message of the job so far. Not
    // at once: after a delay that doubles with each failure in a row (1 s up to 60 s, jittered so
    // that many open pages do not all come back together), back to 1 s once a message arrives.
    let reopenDelay = 1000;
    function follow() {
      const source = new EventSource("/api/jobs/" + id + "/stream");
      source.addEventListener("message", (e) => {
        reopenDelay = 1000;
        latest = JSON.parse(e.data);
        if (!travelling) render(latest);
        clearTimeout(pending); pending = setTimeout(() => loadTimeline().catch(() => {}), 150);
        if (isLastWord(latest)) { source.close(); fillImages(latest); }
      });
      source.addEventListener("error", () => {
        if (source.readyState !== EventSource.CLOSED) return;  // the browser is reconnecting itself
        if (latest && isLastWord(latest)) return;  // nothing more will come
        const wait = reopenDelay / 2 + Math.random() * reopenDelay / 2;
        reopenDelay = Math.min(reopenDelay * 2, 60000);
        setTimeout(follow, wait);
      });
    }
    // A message taken in while its upload was dead carries no URL, and keeps none once the
    // upload is re-driven and published (Broadcast.md): the job's row has the URL then. So a
    // last word without an image the job may have is filled in from the row, once; the page
    // said "no image" for good of a job whose image the API served.
    async function fillImages(m) {
      if (m.result_url && m.preview_url) return;
      try {
        const j = await api("GET", "/api/jobs/" + id);
        if (latest !== m) return;
        const result = m.result_url || j.result_url || null, preview = m.preview_url || j.preview_url || null;
        if (result === m.result_url && preview === m.preview_url) return;
        m.result_url = result; m.preview_url = preview;
        if (!travelling) render(m);
      } catch (err) { /* keep the last picture */ }
    }

    // Without the server's own broadcasts (--no-effects, or broadcasts going to AnyCable) the
    // stream routes answer 409: the job is read once a second instead, until it has finished.
    function poll() {
      const timer = setInterval(async () => {
        try {
          const j = await api("GET", "/api/jobs/" + id);
          const changed = !latest || latest.version !== j.version;
          latest = j;
          if (changed) { if (!travelling) render(latest); loadTimeline().catch(() => {}); }
          if (isLastWord(j)) clearInterval(timer);
        } catch (err) { /* keep the last picture */ }
      }, 1000);
    }
    if (jobEl.dataset.live === "sse" && window.EventSource) follow(); else poll();
    loadTimeline().catch(() => {});
    for (const action of ["cancel", "retry"]) {
      const b = $("#" + action);
      if (b) b.addEventListener("click", async () => {
        // Cancelling cannot be undone (a retry starts the job over): asked first.
        if (action === "cancel" && !window.confirm("Cancel job " + id + "? Its running attempt is stopped, and it cannot be resumed.")) return;
        try { await api("POST", "/api/jobs/" + id + "/" + action); location.reload(); } catch (err) { $("#error").textContent = err.message; }
      });
    }
  }

  // Projections: re-drive dead letters.
  document.querySelectorAll("button.redrive").forEach((b) => b.addEventListener("click", async () => {
    try { await api("POST", "/api/projections/" + b.dataset.name + "/redrive"); location.reload(); } catch (err) { alert(err.message); }
  }));
})();
