// The script editor: CodeMirror 6 with Python, inline problems from Check, versions, and the
// test panel (dry runs of the editor's text or a version, with a composed or stored request).
import {
  EditorState, EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  highlightSpecialChars, drawSelection, rectangularSelection, dropCursor, defaultKeymap, history,
  historyKeymap, indentWithTab, syntaxHighlighting, defaultHighlightStyle, indentOnInput,
  bracketMatching, foldGutter, foldKeymap, search, searchKeymap, highlightSelectionMatches,
  closeBrackets, closeBracketsKeymap, lintGutter, setDiagnostics, lintKeymap, python,
  completionKeymap,
} from "../vendor/codemirror.js";
import { postJSON, getJSON, el, pretty } from "./api.js";
import { scriptCompletion, preloadCompletion } from "./completion.js";

const cfg = document.getElementById("editor-config").dataset;
const moduleId = cfg.moduleId;
const base = { id: cfg.baseVersion || null, number: cfg.baseNumber || null };
const nonce = document.querySelector('meta[name="csp-nonce"]').content;
const textarea = document.getElementById("source");
const host = document.getElementById("editor");
const statusLine = document.getElementById("editor-status");
const problemsList = document.getElementById("problems");
const draftKey = `vr-draft:${moduleId}`;
let savedText = textarea.value;
let draftTimer = null;

function say(message, kind = "") {
  statusLine.textContent = message;
  statusLine.className = kind;
}

// The session ended (expired, signed out in another tab): the way back at hand, as the live
// page gives it. Leaving keeps the draft at once (pagehide), and signing in comes back to this
// page, which offers it: nothing typed is lost.
function signInAgain() {
  const next = encodeURIComponent(location.pathname + location.search);
  return [" ", el("a", { href: `/console/sign-in?next=${next}` }, "Sign in again"),
    " (the text stays in this browser, offered here as a draft)."];
}

const view = new EditorView({
  parent: host,
  state: EditorState.create({
    doc: textarea.value,
    extensions: [
      lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(), history(), foldGutter(),
      drawSelection(), dropCursor(), EditorState.allowMultipleSelections.of(true), indentOnInput(),
      syntaxHighlighting(defaultHighlightStyle, { fallback: true }), bracketMatching(),
      closeBrackets(), rectangularSelection(), highlightActiveLine(), highlightSelectionMatches(),
      search({ top: true }), lintGutter(), python(), scriptCompletion(cfg.completionUrl),
      keymap.of([
        { key: "Mod-Enter", run: () => { check(); return true; } },
        ...closeBracketsKeymap, ...completionKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap,
        ...foldKeymap, ...lintKeymap, indentWithTab,
      ]),
      EditorView.cspNonce.of(nonce),
      // Tab indents here: the way out (Esc, then Tab) is told with the editor, not only beside it.
      EditorView.contentAttributes.of({ "aria-labelledby": "source-label", "aria-describedby": "editor-keys", "aria-multiline": "true", tabindex: "0" }),
      EditorView.updateListener.of((update) => { if (update.docChanged) changed(); }),
    ],
  }),
});
textarea.hidden = true;
host.dataset.ready = "true";
preloadCompletion(cfg.completionUrl);
window.consoleEditor = view; // for tests and the browser's console

function source() { return view.state.doc.toString(); }

function setSource(text) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

// --- the draft, kept in this browser (the execution log replays against it) -----------------
function storedDraft() {
  try { return JSON.parse(localStorage.getItem(draftKey) || "null"); } catch { return null; }
}

// The browser keeps one draft per module, shared by its tabs. A tab removes it only when it is
// this tab's own (the text it last kept) or the text just saved: another tab's draft, written
// since, is that tab's unsaved work (a save in one tab deleted the draft typed in the other,
// lost once that tab closed).
let keptHere = null;
function dropOwnDraft() {
  const stored = storedDraft();
  if (!stored || stored.source === keptHere || stored.source === savedText) localStorage.removeItem(draftKey);
  keptHere = null;
}

function keepDraft() {
  clearTimeout(draftTimer);
  draftTimer = null;
  const text = source();
  if (text === savedText) { dropOwnDraft(); return; }
  localStorage.setItem(draftKey, JSON.stringify({ source: text, base: base.id, baseNumber: base.number, at: new Date().toISOString() }));
  keptHere = text;
}

function changed() {
  clearTimeout(draftTimer);
  draftTimer = setTimeout(keepDraft, 250);
}

// Leaving the page (a link, Open version, the tab closed or hidden) keeps the draft at once:
// the last quarter second of typing, or a paste just before clicking "Execution log", was
// lost with the timer, and the log's "replay against the draft" ran the text before it.
function keepPendingDraft() { if (draftTimer !== null) keepDraft(); }
window.addEventListener("pagehide", keepPendingDraft);
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") keepPendingDraft(); });

// A draft is offered whatever version it was written on: one written on another version (a
// colleague activated a new one since, or this builder in another tab) is said to be, and once
// restored the editor counts it as written on that version, so activating it asks first rather
// than silently undo the changes made since. (Offering only drafts of the opened version lost
// the others: never shown, and overwritten at the next keystroke.)
function offerDraft() {
  const draft = storedDraft();
  if (!draft || typeof draft.source !== "string" || draft.source === savedText) return;
  const notice = document.getElementById("draft-notice");
  const elsewhere = (draft.base || null) !== base.id;
  if (elsewhere) {
    const from = draft.baseNumber ? `version ${draft.baseNumber}` : draft.base ? "an earlier version" : "no version";
    const opened = base.number ? `version ${base.number}` : "no version";
    document.getElementById("draft-base").textContent =
      ` It was written on ${from}, not on ${opened} opened here: activating it will ask first.`;
  }
  notice.hidden = false;
  document.getElementById("btn-restore").addEventListener("click", () => {
    setSource(draft.source); notice.hidden = true;
    if (elsewhere) { base.id = draft.base || null; base.number = draft.baseNumber || null; }
    say("Draft restored.");
  });
  document.getElementById("btn-discard").addEventListener("click", () => {
    localStorage.removeItem(draftKey); notice.hidden = true; say("Draft discarded.");
  });
}
offerDraft();

// --- problems: underline, gutter marker, message on hover, and a list ------------------------
function diagnosticsFor(problems) {
  const doc = view.state.doc;
  const out = [];
  for (const problem of problems) {
    const number = Number.isInteger(problem.line) && problem.line >= 1 ? Math.min(problem.line, doc.lines) : 1;
    const line = doc.line(number);
    const indent = line.text.length - line.text.trimStart().length;
    const from = line.from + (indent < line.length ? indent : 0);
    out.push({ from, to: Math.max(from, line.to), severity: "error", message: problem.message, source: "check" });
  }
  return out;
}

function showProblems(problems) {
  view.dispatch(setDiagnostics(view.state, diagnosticsFor(problems)));
  problemsList.replaceChildren();
  problemsList.hidden = problems.length === 0;
  for (const problem of problems) {
    const line = Number.isInteger(problem.line) ? problem.line : null;
    const button = el("button", { type: "button", class: "link" }, line ? `Line ${line}` : "Script");
    button.addEventListener("click", () => goToLine(line || 1));
    problemsList.append(el("li", { "data-line": line ?? "" }, button, ": ", problem.message));
  }
}

function goToLine(number) {
  const doc = view.state.doc;
  const line = doc.line(Math.min(Math.max(number, 1), doc.lines));
  view.dispatch({ selection: { anchor: line.from }, scrollIntoView: true });
  view.focus();
}

function problemsOf(data) {
  if (data && Array.isArray(data.problems)) return data.problems;
  return [{ line: null, message: (data && data.message) || "the request failed" }];
}

// On a slow network the builder asks again before an answer comes (changed the script, or a
// new request to run): only the latest question's answer is shown. An older one arriving
// last drew problems of text no longer there, or the report of the earlier request, over it.
let checks = 0;
let runs = 0;

async function check() {
  const mine = ++checks;
  say("Checking…");
  const { status, data } = await postJSON(`/console/modules/${moduleId}/check`, { source: source() });
  if (mine !== checks) return false; // a newer check is on its way; its answer is the one shown
  if (status === 200) {
    showProblems([]);
    say("Check passed: no problems found.", "ok");
    return true;
  }
  if (status !== 422) {
    // Not the script's problem (the session ended, the service is away): the script's problems
    // as last shown stay, and the line says why nothing was checked.
    say(`Check did not run: ${(data && data.message) || `HTTP ${status}`}`, "error");
    if (status === 401) statusLine.append(...signInAgain());
    return false;
  }
  const problems = problemsOf(data);
  showProblems(problems);
  say(`Check found ${problems.length} problem${problems.length === 1 ? "" : "s"}.`, "error");
  return false;
}

async function save(activate, overwrite = false) {
  say(activate ? "Saving and activating…" : "Saving…");
  const body = { source: source(), activate, base_version_id: base.id, overwrite };
  const { status, data } = await postJSON(`/console/modules/${moduleId}/versions`, body);
  if (status === 201) {
    showProblems([]);
    savedText = body.source;
    dropOwnDraft();
    if (activate) { base.id = data.id; base.number = data.number; }
    say(`Saved version ${data.number}${data.active ? " (now active)" : ""}.`, "ok");
    document.getElementById("editing-what").textContent =
      `Saved as version ${data.number}${data.active ? " (active)" : ""}.`;
    addVersion(data);
    return;
  }
  // Only a `conflict` is someone else's activation; a 409 `limit_reached` (the versions' cap,
  // the tenant's source quota) is said as it is, below.
  if (status === 409 && data && data.error === "conflict" && activate && !overwrite) {
    const active = data && data.details && data.details.active_version;
    const what = active ? `version ${active.number}` : "another version";
    const opened = base.number ? `version ${base.number}` : "no version";
    if (window.confirm(`Someone else activated ${what} after you opened ${opened}. ` +
        "Activating your draft replaces their change. Activate anyway?")) {
      return save(true, true);
    }
    say(`Not activated: ${what} stays active. Open it to merge your changes.`, "error");
    return;
  }
  if (status === 422) {
    const problems = problemsOf(data);
    showProblems(problems);
    say(`Not saved: ${problems.length} problem${problems.length === 1 ? "" : "s"}.`, "error");
    return;
  }
  say(`Not saved: ${(data && data.message) || `HTTP ${status}`}`, "error");
  if (status === 401) statusLine.append(...signInAgain());
}

// Both version menus (open, run) follow a save: the new version on top, "(active)" moved to it
// when it was activated, so neither shows the old state until a reload.
const versionMenus = [document.getElementById("open-version"), document.getElementById("run-version-id")];
function addVersion(version) {
  for (const menu of versionMenus) {
    if (version.active) {
      for (const item of menu.options) item.textContent = item.textContent.replace(/ \(active\)$/, "");
    }
    const item = el("option", { value: version.id }, `v${version.number}${version.active ? " (active)" : ""}`);
    menu.prepend(item);
    if (menu.id === "open-version" || version.active) menu.value = version.id;
  }
  document.getElementById("open-version-form").hidden = false;
  document.getElementById("run-version").disabled = false;
}

// One save at a time. A second click while the first is on its way (a slow network, a double
// click) saved the same text again as another version, or, for "Save and activate", came back
// 409 and asked whether to replace "someone else's" activation: the builder's own first click.
// The buttons say they are busy (aria-disabled: a disabled button would drop the keyboard's
// focus) and take no click until the answer is in.
const saveButtons = [document.getElementById("btn-save"), document.getElementById("btn-activate")];
let saving = false;

async function saveOnce(activate) {
  if (saving) return;
  saving = true;
  for (const button of saveButtons) button.setAttribute("aria-disabled", "true");
  try {
    await save(activate);
  } finally {
    saving = false;
    for (const button of saveButtons) button.removeAttribute("aria-disabled");
  }
}

document.getElementById("btn-check").addEventListener("click", check);
document.getElementById("btn-save").addEventListener("click", () => saveOnce(false));
document.getElementById("btn-activate").addEventListener("click", () => saveOnce(true));

// --- the test panel ---------------------------------------------------------------------------
const composeFields = document.getElementById("compose-fields");
const storedFields = document.getElementById("stored-fields");
const executionSelect = document.getElementById("req-execution");
const resultBox = document.getElementById("run-result");
const runSummary = document.getElementById("run-summary");

function requestMode() { return document.querySelector('input[name="req-mode"]:checked').value; }
function syncMode() {
  const stored = requestMode() === "stored";
  composeFields.hidden = stored;
  storedFields.hidden = !stored;
  if (stored) showStored();
}
for (const radio of document.querySelectorAll('input[name="req-mode"]')) radio.addEventListener("change", syncMode);

document.getElementById("preset-json").addEventListener("click", () => {
  document.getElementById("req-method").value = "POST";
  document.getElementById("req-headers").value = "Content-Type: application/json";
  document.getElementById("req-body").value =
    '{"type": "start", "callId": "c-1001", "srcPhone": "+79161234567", "dstPhone": "101"}';
});
document.getElementById("preset-form").addEventListener("click", () => {
  document.getElementById("req-method").value = "POST";
  document.getElementById("req-headers").value = "Content-Type: application/x-www-form-urlencoded";
  document.getElementById("req-body").value =
    "type=start&callId=c-1001&srcPhone=%2B79161234567&dstPhone=101";
});

// The request of the execution chosen last (an earlier choice answered late is not drawn over
// it), or why it could not be shown: the session ended, the execution was deleted, no answer.
let storedShown = 0;
async function showStored() {
  const box = document.getElementById("stored-request");
  const mine = ++storedShown;
  box.textContent = "";
  box.classList.remove("error");
  if (!executionSelect.value) return;
  const { ok, status, data } = await getJSON(`/console/executions/${executionSelect.value}/request`);
  if (mine !== storedShown) return;
  if (ok) {
    box.textContent = httpText(data.request) + (data.masked && data.masked.length
      ? `\n\n(masked, ••••••: ${data.masked.join("; ")}; the run uses the request as it came)` : "");
    return;
  }
  box.textContent = `Could not show the request: ${(data && data.message) || `HTTP ${status}`}`;
  box.classList.add("error");
}
executionSelect.addEventListener("change", showStored);

function httpText(request) {
  if (!request || !request.method) return pretty(request);
  const headers = (request.headers || []).map(([name, value]) => `${name}: ${value}`);
  return [`${request.method} ${request.url}`, ...headers, "", request.body ?? ""].join("\n");
}

function headerLines(text) {
  const pairs = [];
  for (const line of text.split("\n")) {
    const at = line.indexOf(":");
    if (at > 0) pairs.push([line.slice(0, at).trim(), line.slice(at + 1).trim()]);
  }
  return pairs;
}

async function run() {
  const body = {};
  const runDraft = document.getElementById("run-draft").checked;
  if (runDraft) body.source = source();
  else body.version_id = document.getElementById("run-version-id").value;
  if (requestMode() === "stored") {
    if (!executionSelect.value) { resultBox.replaceChildren(el("p", { class: "error", role: "alert" }, "Choose a stored execution first.")); return; }
    body.execution_id = executionSelect.value;
  } else {
    const text = document.getElementById("req-body").value;
    body.request = {
      method: document.getElementById("req-method").value,
      url: document.getElementById("req-url").value || null,
      headers: headerLines(document.getElementById("req-headers").value),
      body: text === "" ? null : text,
    };
  }
  const mine = ++runs;
  runSummary.textContent = "Running the dry run…";
  resultBox.replaceChildren(el("p", {}, "Running…"));
  const { status, data } = await postJSON(`/console/modules/${moduleId}/dry-run`, body);
  if (mine !== runs) return; // a newer dry run is on its way; its report is the one shown
  if (status !== 200) {
    const why = (data && data.message) || `HTTP ${status}`;
    runSummary.textContent = "";  // the refusal below is an alert: said once
    resultBox.replaceChildren(el("p", { class: "error", role: "alert" }, status === 0 ? `Dry run did not run: ${why}` : `Dry run refused: ${why}`,
      ...(status === 401 ? signInAgain() : [])));
    return;
  }
  renderReport(data, runDraft);
  runSummary.textContent = summaryOf(data);
}

// What a screen reader is told of a run: the outcome, how long, where it failed, whether the
// outcome of a replayed request would change. The report itself follows the Run button.
function summaryOf(report) {
  const parts = [`Dry run: ${report.outcome}, ${report.duration_ms} ms`];
  if (report.limit) parts.push(`stopped by the ${report.limit} limit`);
  const error = report.error;
  if (error) parts.push(`${error.type || "error"}${error.line ? ` at line ${error.line}` : ""}`);
  const c = report.comparison;
  if (c) parts.push(c.outcome_changed ? `the outcome would change from ${c.outcome_before}` : "the outcome would not change");
  return `${parts.join("; ")}. The report follows the Run button.`;
}
document.getElementById("btn-run").addEventListener("click", run);

function section(title, ...children) {
  return el("section", { class: "result-part" }, el("h3", {}, title), ...children);
}

function effectLines(effects, report) {
  const items = [];
  if (!effects) return items;
  const call = effects.call;
  if (call) items.push(call.repeat ? `Call: a repeat, nothing changes (${call.state_after})`
    : call.created ? `Call: a new call, ${call.state_after}` : `Call: ${call.state_before} → ${call.state_after}${call.late ? " (late event, kept in history)" : ""}`);
  const record = effects.record;
  if (record) items.push(`Call record: ${record.created ? "a new call" : "updates the call"} (${record.state_after})`);
  if (effects.activity) items.push(`Activity entry: ${effects.activity.action}`);
  if (effects.contact_created) items.push(`New contact: ${effects.contact_created.name} (${effects.contact_created.phone})`);
  const names = report.user_names || {};
  for (const n of effects.notifications || []) items.push(`Notify ${names[n.user_id] || n.user_id}: ${n.kind}`);
  for (const w of effects.storage || []) items.push(`Storage: ${w.op} ${w.key}`);
  for (const f of report.fetches || []) items.push(`fetch: ${f.method || ""} ${f.url || ""} ${f.status ?? f.error ?? ""}`);
  if (report.reply) items.push(`HTTP reply: ${report.reply.status}${report.reply.body ? ` “${report.reply.body.slice(0, 200)}”` : ""}`);
  return items;
}

function diffTable(caption, rows) {
  const table = el("table", { class: "diff-table" }, el("caption", {}, caption),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Key"), el("th", { scope: "col" }, "What really happened"), el("th", { scope: "col" }, "With this script"))));
  const tbody = el("tbody");
  for (const row of rows) {
    tbody.append(el("tr", {}, el("th", { scope: "row" }, row.path),
      el("td", { class: "before" }, row.before ?? "—"), el("td", { class: "after" }, row.after ?? "—")));
  }
  table.append(tbody);
  return table;
}

function renderReport(report, ranDraft) {
  const parts = [];
  const outcome = report.outcome;
  parts.push(el("p", { class: `outcome outcome-${outcome}`, "data-outcome": outcome },
    `Outcome: ${outcome}`, ` · ${report.duration_ms} ms`, report.limit ? ` · stopped by the ${report.limit} limit` : ""));
  const error = report.error;
  if (error) {
    parts.push(section("Error", el("p", { class: "error", "data-error-line": error.line ?? "" },
      `${error.type || "Error"}: ${error.message || ""}`, error.line ? ` (line ${error.line})` : "")));
    if (error.line && ranDraft) {
      showProblems([{ line: error.line, message: `${error.type}: ${error.message}` }]);
      goToLine(error.line);
    }
    if (Array.isArray(error.problems)) parts.push(el("ul", {}, ...error.problems.map((p) => el("li", {}, `${p.path || p.key || ""} ${p.message || pretty(p)}`))));
  } else if (ranDraft) {
    showProblems([]);
  }
  if (report.result !== null && report.result !== undefined) {
    parts.push(section("Validated result", el("pre", { tabindex: "0", class: "code small" }, pretty(report.result))));
  }
  const lines = effectLines(report.effects, report);
  if (lines.length) parts.push(section("Effects the service would perform", el("ul", { class: "effects" }, ...lines.map((t) => el("li", {}, t)))));
  else if (report.ok) parts.push(section("Effects the service would perform", el("p", {}, "None.")));
  parts.push(section("Captured output", el("pre", { tabindex: "0", class: "code small logs" }, report.logs || "(nothing printed)")));
  if (report.masked && report.masked.length) {
    // Say what a •••••• stands for: a mask, not what the provider sent or the script printed.
    parts.push(section("Masked in this report (••••••)", el("ul", { class: "masked" }, ...report.masked.map((t) => el("li", {}, t)))));
  }
  if (report.comparison) {
    const c = report.comparison;
    const summary = c.outcome_changed ? `Outcome would change: ${c.outcome_before} → ${c.outcome_after}${c.newly_failing ? " (newly failing)" : ""}.`
      : `Outcome unchanged (${c.outcome_after}).`;
    const cmp = [el("p", { "data-changed": c.changed ? "true" : "false" }, summary,
      c.result_diff.length ? ` The result differs in ${c.result_diff.length} place${c.result_diff.length === 1 ? "" : "s"}.` : " The result is the same.")];
    if (c.result_diff.length) cmp.push(diffTable("Result: what really happened and with this script", c.result_diff));
    if (c.effects_diff.length) cmp.push(diffTable("Effects (computed against the calls as they are now)", c.effects_diff));
    parts.push(section(`Compared with what really happened (${report.original.execution_id})`, ...cmp));
  }
  parts.push(el("details", {}, el("summary", {}, "Full report (JSON)"), el("pre", { tabindex: "0", class: "code small" }, pretty(report))));
  resultBox.replaceChildren(...parts);
}

if (cfg.pickedExecution) {
  document.getElementById("req-stored").checked = true;
  syncMode();
}
// Opened from an execution's error ("Open that version in the editor"): its line is marked and
// the cursor put on it, as a dry run's error is.
if (cfg.failureLine) {
  showProblems([{ line: Number(cfg.failureLine), message: cfg.failureMessage }]);
  goToLine(Number(cfg.failureLine));
}
