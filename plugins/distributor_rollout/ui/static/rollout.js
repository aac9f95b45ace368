// Distributor Rollout pages: render the plugin's JSON (../api/run, ../api/org) and poll it
// while a run goes on. Every URL is relative (the pages work behind Airflow's base path);
// text goes in through textContent only.
"use strict";

(function () {
  const body = document.body;

  // --- theme: Airflow's choice (localStorage.theme: light | dark | system), else the
  // parent window's <html> class, else the system's; kept in step with the UI. ---
  function systemDark() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }
  function parentTheme() {
    try {
      const list = window.parent.document.documentElement.classList;
      if (list.contains("dark")) return "dark";
      if (list.contains("light")) return "light";
    } catch (error) {
      // not framed by the Airflow UI (or another origin): no parent to follow
    }
    return null;
  }
  function theme() {
    const asked = new URLSearchParams(location.search).get("theme");
    let stored = null;
    try {
      stored = window.localStorage.getItem("theme");
    } catch (error) {
      stored = null;
    }
    const choice = asked || parentTheme() || stored || "system";
    if (choice === "dark" || choice === "light") return choice;
    return systemDark() ? "dark" : "light";
  }
  function applyTheme() {
    const name = theme();
    document.documentElement.classList.remove("light", "dark");
    document.documentElement.classList.add(name);
  }
  applyTheme();
  window.addEventListener("storage", applyTheme);
  try {
    new MutationObserver(applyTheme).observe(window.parent.document.documentElement, {
      attributes: true,
      attributeFilter: ["class"],
    });
  } catch (error) {
    // standalone page
  }
  if (window.matchMedia) {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
  }

  // --- links out of the frame: the Airflow UI frames plugin views with a sandbox that has
  // neither allow-top-navigation nor allow-popups, so a link here with target _top or
  // _blank does nothing. The frame is same-origin (allow-same-origin), so such a click is
  // replayed as a click on a link in the Airflow page itself, which may navigate and open
  // tabs (the user's click activates the parent too). Unframed, links work as they are. ---
  function parentDocument() {
    try {
      return window.parent !== window ? window.parent.document : null;
    } catch (error) {
      return null; // another origin: leave links to the browser
    }
  }
  document.addEventListener("click", (event) => {
    const anchor = event.target instanceof Element ? event.target.closest("a[target]") : null;
    const outer = parentDocument();
    if (!anchor || !outer || event.defaultPrevented || event.button !== 0) return;
    event.preventDefault();
    const replay = outer.createElement("a");
    replay.href = anchor.href; // absolute: resolved against this page
    replay.target = anchor.target;
    if (anchor.rel) replay.rel = anchor.rel;
    replay.style.display = "none";
    outer.body.append(replay);
    replay.click();
    replay.remove();
  });

  // --- small DOM helpers ---
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function link(href, text) {
    if (!href) return document.createTextNode(text);
    return el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: text });
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    let left = Math.round(seconds);
    const parts = [];
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
      if (left >= size) {
        parts.push(Math.floor(left / size) + unit);
        left %= size;
      }
    }
    if (left || !parts.length) parts.push(left + "s");
    return parts.join(" ");
  }
  function tone(word) {
    if (["passed", "approved", "succeeded", "SUCCEEDED", "compliant", "PASS", "current",
         "success", "not_least", "UNCHANGED"].includes(word)) return "ok";
    if (["failed", "rejected", "not_answered", "rolled_back", "rollback_failed", "FAILED",
         "FAIL", "partial", "unknown_failed"].includes(word)) return "bad";
    if (["running", "RUNNING", "WAIT", "in_progress", "waiting", "deploying", "gating",
         "operation running", "awaiting approval", "queued"].includes(word)) return "wait";
    return "none";
  }
  function badge(word, label) {
    return el("span", { class: "badge " + tone(word), text: label || word });
  }
  function showError(message) {
    const box = document.getElementById("error");
    box.textContent = message;
    box.hidden = !message;
  }

  // --- polling ---
  async function load(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (response.status === 401) throw new Error("Not signed in: sign in to Airflow and reload.");
    if (response.status === 403) throw new Error("You may not read this DAG's run data.");
    if (!response.ok) {
      let detail = response.statusText;
      try {
        detail = (await response.json()).detail || detail;
      } catch (error) {
        // not JSON
      }
      throw new Error("Cannot load (" + response.status + "): " + detail);
    }
    return response.json();
  }
  async function poll(url, render, fallbackSeconds) {
    let next = fallbackSeconds;
    try {
      const data = await load(url);
      showError("");
      render(data);
      next = data.refresh_seconds === undefined ? fallbackSeconds : data.refresh_seconds;
    } catch (error) {
      showError(error.message);
    }
    if (next) setTimeout(() => poll(url, render, fallbackSeconds), next * 1000);
  }

  // --- the Rollout tab ---
  function gateCell(gate) {
    if (!gate) return "-";
    const box = el("div");
    if (gate.percent !== null) {
      box.append(el("span", { text: gate.percent.toFixed(1) + "% of " + gate.threshold_percent + "%" }), " ");
    } else {
      box.append(el("span", { text: "threshold " + gate.threshold_percent + "%" }), " ");
    }
    if (gate.state) box.append(badge(gate.state));
    if (gate.reason) box.append(el("div", { class: "muted", text: gate.reason }));
    return box;
  }
  function nodesCell(gate) {
    if (!gate || !gate.counts) return "-";
    const c = gate.counts;
    const parts = [
      c.compliant + " compliant",
      c.failed + " failed",
      c.in_progress + " in progress",
      c.skipped + " skipped",
      c.offline + " offline" + (c.excluded_offline ? " (" + c.excluded_offline + " excluded)" : ""),
    ];
    if (c.unreported) parts.push(c.unreported + " unreported");
    return parts.join(", ");
  }
  function timeLeftCell(gate) {
    if (!gate || gate.state === "PASS" || gate.state === "FAIL") return "-";
    const parts = [];
    if (gate.bake_seconds_left !== null) parts.push("bake " + duration(gate.bake_seconds_left));
    if (gate.timeout_seconds_left !== null) parts.push("timeout in " + duration(gate.timeout_seconds_left));
    return parts.join("; ") || "-";
  }
  function operationsCell(operations) {
    if (!operations.length) return "-";
    const list = el("ul", { class: "plain" });
    for (const op of operations) {
      const item = el("li", {}, link(op.url, op.id), " ");
      item.append(op.status ? badge(op.status) : badge("running", "waiting"));
      if (op.failed) item.append(" ", el("span", { class: "reason", text: op.failed + " failed" }));
      list.append(item);
    }
    return list;
  }
  function approvalCell(approval) {
    if (!approval.required && approval.state === "not_required") return "-";
    const box = el("div", {}, badge(approval.state, approval.state.replace("_", " ")));
    if (approval.by) box.append(" by ", el("strong", { text: approval.by }));
    const waitingFor = approval.waiting_for || [];
    if (waitingFor.length) box.append(" for ", el("strong", { text: waitingFor.join(", ") }));
    return box;
  }
  function waveRow(wave) {
    const row = wave.row;
    const tr = el("tr", { "data-wave": wave.name });
    tr.append(
      el("th", { scope: "row" }, wave.name),
      el("td", {}, badge(wave.phase === row.decision ? row.decision : wave.phase, wave.phase.replace("_", " ")),
        row.reason ? el("div", { class: "reason", text: row.reason }) : null),
      el("td", { text: wave.ous.join(", ") }),
      el("td", { text: wave.regions.join(", ") }),
      el("td", { class: "num", text: row.targets }),
      el("td", {}, operationsCell(wave.operations)),
      el("td", {}, gateCell(wave.gate)),
      el("td", {}, nodesCell(wave.gate)),
      el("td", {}, timeLeftCell(wave.gate)),
      el("td", {}, approvalCell(wave.approval)),
      el("td", { class: "num", text: duration(row.duration_seconds) }),
    );
    return tr;
  }
  function matrix(wave) {
    const m = wave.matrix;
    const open = m.failed > 0;
    const box = el("details", { "data-wave": wave.name, open: open });
    box.append(el("summary", {
      text: wave.name + ": " + m.cells_total + " targets" + (m.failed ? ", " + m.failed + " failed" : ""),
    }));
    if (!m.cells_total) {
      box.append(el("p", { class: "muted", text: "Its targets are known once the wave deploys." }));
      return box;
    }
    const failed = m.cells.filter((cell) => cell.failed);
    if (failed.length) {
      const list = el("ul", { class: "failed-cells", "aria-label": "Failed targets of " + wave.name });
      for (const cell of failed) {
        list.append(el("li", { "data-target": cell.target }, link(cell.url, cell.target), ": ",
          el("span", { class: "reason", text: cell.reason })));
      }
      box.append(list);
    }
    const byTarget = new Map(m.cells.map((cell) => [cell.target, cell]));
    const table = el("table", { class: "data matrix" });
    table.append(el("caption", { class: "visually-hidden", text: "Accounts by Regions of wave " + wave.name }));
    const head = el("tr", {}, el("th", { scope: "col", text: "Account" }));
    for (const region of m.regions) head.append(el("th", { scope: "col", text: region }));
    table.append(el("thead", {}, head));
    const tbody = el("tbody");
    for (const account of m.accounts) {
      const tr = el("tr", {}, el("th", { scope: "row", text: account }));
      for (const region of m.regions) {
        const cell = byTarget.get(account + "/" + region);
        if (!cell) {
          tr.append(el("td", { class: "none", text: "-" }));
          continue;
        }
        const word = cell.failed ? "FAILED" : cell.instance === "SUCCEEDED" ? cell.compliance : cell.instance;
        const label = cell.instance + " · " + cell.compliance.replace("_", " ");
        const td = el("td", { class: tone(word), title: cell.reason || label, "data-target": cell.target },
          link(cell.url, label));
        tr.append(td);
      }
      tbody.append(tr);
    }
    table.append(tbody);
    box.append(table);
    if (m.cells_total > m.cells.length) {
      box.append(el("p", { class: "muted", text: "Showing " + m.cells.length + " of " + m.cells_total + " targets (failed first)." }));
    }
    return box;
  }
  function renderRollback(rollback) {
    const section = document.getElementById("rollback");
    section.hidden = !rollback;
    if (!rollback) return;
    const report = rollback.report;
    const parts = [rollback.reason || "", report ? report.status + ", " + report.actions + " actions, "
      + report.restored_targets + " targets restored, " + report.failed_targets_total + " failed" : rollback.state];
    if (rollback.note) parts.push(rollback.note);
    document.getElementById("rollback-summary").textContent = parts.filter(Boolean).join(" — ");
    const standing = document.getElementById("rollback-stack-set");
    standing.replaceChildren(...(rollback.stack_set_lines || []).map((line) => el("li", { text: line })));
    standing.hidden = !standing.childElementCount;
    const tbody = document.querySelector("#rollback-actions tbody");
    tbody.replaceChildren(...rollback.actions.map((action) => el("tr", {},
      el("td", { text: action.description || action.kind || "?" }),
      el("td", { text: action.wave || "-" }),
      el("td", {}, badge(action.status || "none", action.status || "-")),
      el("td", {}, action.operation_id ? link(action.url, action.operation_id) : "-"),
      el("td", { text: action.summary || "" }),
    )));
  }
  function renderRun(data) {
    document.getElementById("package").textContent =
      [data.package.name, data.package.version].filter(Boolean).join(" ");
    const status = document.getElementById("status");
    status.className = "badge " + tone(data.status);
    status.textContent = data.status.replace("_", " ");
    document.getElementById("summary").textContent = data.summary;
    const notes = [];
    if (data.dry_run) notes.push("Dry run: nothing changed.");
    if (data.plan.changed) notes.push("The plan file changed since this run validated it: shown as it is now.");
    if (data.plan.problem) notes.push("No waves shown: " + data.plan.problem + ".");
    if (!data.finished) notes.push("Live: refreshes every " + data.refresh_seconds + "s.");
    document.getElementById("notes").textContent = notes.join(" ");
    document.querySelector("#waves tbody").replaceChildren(...data.waves.map(waveRow));
    const matrices = document.getElementById("matrices");
    const opened = new Set(Array.from(matrices.querySelectorAll("details[open]")).map((d) => d.dataset.wave));
    const title = matrices.querySelector("h2");
    const boxes = data.waves.map(matrix);
    for (const box of boxes) if (opened.has(box.dataset.wave)) box.open = true;
    matrices.replaceChildren(title, ...boxes);
    renderRollback(data.rollback);
    const validation = document.getElementById("validation");
    validation.hidden = !data.validation;
    if (data.validation) {
      document.getElementById("validation-problems").replaceChildren(
        ...data.validation.problems.map((p) => el("li", { text: p.field + ": " + p.what })));
    }
  }

  // --- the organization view ---
  function runLinks(dagId, runId) {
    // From <base>/distributor-rollout/ui/ back to the Airflow UI at <base>.
    const run = "../../dags/" + encodeURIComponent(dagId) + "/runs/" + encodeURIComponent(runId);
    return { run: run, tab: run + "/plugin/distributor-rollout" };
  }
  function renderOrg(data) {
    const root = document.getElementById("dags");
    if (!data.dags.length) {
      root.replaceChildren(el("p", { class: "muted", text: "No rollout DAG you may read." }));
      return;
    }
    root.replaceChildren(...data.dags.map((dag) => {
      const section = el("section", { "data-dag-id": dag.dag_id });
      section.append(el("h2", {}, (dag.package || dag.dag_id) + " ", el("span", { class: "muted", text: dag.dag_id })));
      const versions = el("table", { class: "data versions" });
      versions.append(el("caption", { class: "visually-hidden", text: "Version per wave of " + dag.dag_id }));
      versions.append(el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Wave" }),
        el("th", { scope: "col", text: "Version" }), el("th", { scope: "col", text: "As of run" }))));
      versions.append(el("tbody", {}, ...dag.waves.map((wave) => el("tr", { "data-wave": wave.name },
        el("th", { scope: "row", text: wave.name }),
        el("td", {}, wave.version ? wave.version + " " : "none ", badge(wave.held)),
        el("td", {}, wave.run_id ? el("a", { href: runLinks(dag.dag_id, wave.run_id).tab, target: "_top", text: wave.run_id }) : "-"),
      ))));
      section.append(el("h3", { text: "Version per wave" }), versions);
      const runs = el("table", { class: "data runs" });
      runs.append(el("caption", { class: "visually-hidden", text: "Last runs of " + dag.dag_id }));
      runs.append(el("thead", {}, el("tr", {}, ...["Run", "Version", "Outcome", "Duration", "Summary"].map(
        (name) => el("th", { scope: "col", text: name })))));
      runs.append(el("tbody", {}, ...dag.runs.map((run) => el("tr", { "data-run-id": run.run_id },
        el("th", { scope: "row" }, el("a", { href: runLinks(dag.dag_id, run.run_id).tab, target: "_top", text: run.run_id })),
        el("td", { text: run.version || "-" }),
        el("td", {}, badge(run.status || run.state, (run.status || run.state).replace("_", " "))),
        el("td", { class: "num", text: duration(run.duration_seconds) }),
        el("td", { text: run.summary }),
      ))));
      section.append(el("h3", { text: "Last runs" }), runs);
      return section;
    }));
  }

  if (body.dataset.page === "run") {
    const query = new URLSearchParams({ dag_id: body.dataset.dagId, run_id: body.dataset.runId });
    poll("../api/run?" + query.toString(), renderRun, 5);
  } else if (body.dataset.page === "org") {
    poll("../api/org", renderOrg, 30);
  }
})();
