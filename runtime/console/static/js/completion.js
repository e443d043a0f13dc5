// Completion for the script editor. Every name, signature and doc comes from the server
// (GET /console/completion.json, built by runtime/console/completion.py from the sandbox's own
// definitions); this file only decides which list fits where the cursor is:
//   `import `/`from ` -> the importable modules; `from json import ` -> that module's members;
//   `x.` -> the members of x's type, when it is known (an injected value, a module, an enum, a
//   contract function's parameter, an annotated or assigned local such as `r = fetch(...)`);
//   inside `VoipCallRecord(` -> its keys as keyword arguments;
//   otherwise the injected names, the allowed builtins, keywords, and the script's own names.
import { autocompletion, syntaxTree, localCompletionSource } from "../vendor/codemirror.js";
import { getJSON } from "./api.js";

const IDENT = /^[\w]*$/;
const SKIP = new Set(["String", "FormatString", "Comment"]);
const NEW_NAME = /\b(def|class)\s+\w*$/; // a name being defined: nothing to complete
const MAX_CHAIN = 12; // segments of a.b().c chains followed, and assignments re-followed

let loaded = null;
function data(url) {
  if (!loaded) {
    loaded = getJSON(url).then(({ ok, data: body }) => {
      if (!ok || !body) { loaded = null; return null; }
      return body;
    });
  }
  return loaded;
}

function option(entry) {
  const out = { label: entry.label, type: entry.type };
  if (entry.detail) out.detail = entry.detail;
  if (entry.info) out.info = entry.info;
  if (entry.apply) out.apply = entry.apply;
  return out;
}

// --- reading the script's text ----------------------------------------------------------------

// Names the script's imports bind: name -> "json", "urllib.parse" or "datetime.datetime".
function importBindings(text) {
  const bound = new Map();
  for (const m of text.matchAll(/^[ \t]*import[ \t]+([^\n#]+)/gm)) {
    for (const part of m[1].split(",")) {
      const words = part.trim().split(/\s+/);
      if (!words[0]) continue;
      if (words[1] === "as" && words[2]) bound.set(words[2], words[0]);
      else bound.set(words[0].split(".")[0], words[0].split(".")[0]);
    }
  }
  for (const m of text.matchAll(/^[ \t]*from[ \t]+([\w.]+)[ \t]+import[ \t]+\(?([^\n#)]+)/gm)) {
    for (const part of m[2].split(",")) {
      const words = part.trim().split(/\s+/);
      if (!words[0]) continue;
      const name = words[1] === "as" && words[2] ? words[2] : words[0];
      bound.set(name, `${m[1]}.${words[0]}`);
    }
  }
  return bound;
}

// The a.b(...).c chain that ends at `end` in `text`, as segments [{name, call}], or null.
function chainBefore(text, end) {
  const segments = [];
  let i = end;
  while (segments.length < MAX_CHAIN) {
    let call = false;
    let index = false;
    while (i > 0 && (text[i - 1] === ")" || text[i - 1] === "]")) {
      const close = text[i - 1];
      const open = close === ")" ? "(" : "[";
      let depth = 0;
      let j = i - 1;
      for (; j >= 0; j--) {
        if (text[j] === close) depth++;
        else if (text[j] === open && --depth === 0) break;
      }
      if (j < 0) return null;
      if (close === ")") call = true; else index = true;
      i = j;
      if (close === ")") break; // a call's callee comes right before its "("
    }
    let start = i;
    while (start > 0 && /\w/.test(text[start - 1])) start--;
    const name = text.slice(start, i);
    if (!name || /^\d/.test(name)) return null;
    segments.unshift({ name, call, index });
    i = start;
    if (i > 0 && text[i - 1] === ".") { i--; continue; }
    return { segments, start: i };
  }
  return null;
}

// The type of a local name: a parameter of a contract function, an annotation, or the last
// assignment before `pos` whose right side is a chain we can follow.
function localType(text, pos, name, info, depth) {
  const before = text.slice(0, pos);
  const esc = name.replace(/[^\w]/g, "");
  let found = null;
  for (const m of before.matchAll(/^[ \t]*def[ \t]+(\w+)[ \t]*\(([^)]*)\)/gm)) {
    const params = m[2].split(",").map((p) => p.trim());
    params.forEach((param, at) => {
      const [pname, annotation] = param.split("=")[0].split(":").map((s) => s && s.trim());
      if (pname !== esc) return;
      if (annotation) found = { at: m.index, type: annotation.split("[")[0] };
      else if (info.parameters[m[1]] && info.parameters[m[1]][at]) found = { at: m.index, type: info.parameters[m[1]][at] };
    });
  }
  const assign = new RegExp(`^[ \\t]*${esc}[ \\t]*(?::[ \\t]*([\\w.]+)[^=\\n]*)?=(?!=)[ \\t]*([^\\n#]*)`, "gm");
  for (const m of before.matchAll(assign)) {
    if (found && found.at > m.index) continue;
    if (m[1]) { found = { at: m.index, type: m[1] }; continue; }
    const rhs = m[2].trim();
    const chain = chainBefore(rhs, rhs.length);
    if (chain && chain.start === 0 && depth < MAX_CHAIN) {
      const target = resolve(chain.segments, text, m.index, info, depth + 1);
      found = { at: m.index, type: target && target.type ? target.type : null, module: target && target.module };
    } else {
      found = { at: m.index, type: null };
    }
  }
  return found;
}

// What a chain denotes: {type} (a key of info.types) or {module} (a key of info.modules).
function resolve(segments, text, pos, info, depth = 0) {
  let current = null;
  segments.forEach((segment, at) => {
    if (at > 0 && current === undefined) return;
    if (at === 0) {
      current = first(segment, text, pos, info, depth);
      return;
    }
    current = member(current, segment, info);
  });
  return current || null;
}

function first(segment, text, pos, info, depth) {
  const { name, call, index } = segment;
  if (index) return undefined;
  const local = localType(text, pos, name, info, depth);
  if (local) return local.module ? { module: local.module } : (local.type ? typed(local.type, call, info) : undefined);
  const bound = importBindings(text).get(name);
  if (bound) {
    if (info.modules[bound]) return call ? undefined : { module: bound };
    if (info.types[bound]) return call ? { type: bound } : { type: bound, static: true };
    return undefined;
  }
  if (info.values[name]) return call ? undefined : { type: info.values[name] };
  const global = info.globals.find((g) => g.label === name);
  if (global) {
    if (call) return global.returns ? { type: global.returns } : undefined;
    return info.types[name] ? { type: name, static: true } : undefined;
  }
  const builtin = info.builtins.find((b) => b.label === name);
  if (builtin && call && info.types[name]) return { type: name };
  return undefined;
}

function typed(type, call, info) {
  if (call) return undefined;
  return info.types[type] ? { type } : undefined;
}

function member(current, segment, info) {
  if (!current || segment.index) return undefined;
  if (current.module) {
    const entry = (info.modules[current.module] || []).find((e) => e.label === segment.name);
    if (!entry) return undefined;
    if (entry.type === "namespace") return { module: entry.returns };
    if (entry.type === "class") return { type: entry.returns, static: !segment.call };
    return undefined;
  }
  const entry = (info.types[current.type] || []).find((e) => e.label === segment.name);
  if (!entry || !entry.returns) return undefined;
  if (entry.type === "method" && !segment.call) return undefined;
  if (entry.type === "property" && segment.call) return undefined;
  return info.types[entry.returns] ? { type: entry.returns } : undefined;
}

// The callee of the innermost "(" still open before `pos` on the current statement, if the
// cursor sits where a keyword argument may start.
function openCall(text, pos) {
  let depth = 0;
  const stop = Math.max(0, pos - 2000);
  for (let i = pos - 1; i >= stop; i--) {
    const c = text[i];
    if (c === ")" || c === "]" || c === "}") depth++;
    else if (c === "[" || c === "{") { if (depth === 0) return null; depth--; }
    else if (c === "(") {
      if (depth > 0) { depth--; continue; }
      const m = /(\w+)\s*$/.exec(text.slice(Math.max(0, i - 100), i));
      return m ? m[1] : null;
    }
  }
  return null;
}

// --- the completion source -------------------------------------------------------------------

function scriptSource(url) {
  return async (context) => {
    const inner = syntaxTree(context.state).resolveInner(context.pos, -1);
    for (let node = inner; node; node = node.parent) if (SKIP.has(node.name)) return null;
    const info = await data(url);
    if (!info) return null;
    const line = context.state.doc.lineAt(context.pos);
    const head = line.text.slice(0, context.pos - line.from);
    const moduleNames = Object.keys(info.modules).sort();

    let m = /^\s*(?:import\s+(?:[\w.]+\s*(?:as\s+\w+)?\s*,\s*)*|from\s+)([\w.]*)$/.exec(head);
    if (m) {
      return {
        from: context.pos - m[1].length, validFor: /^[\w.]*$/,
        options: moduleNames.map((name) => ({ label: name, type: "namespace", detail: "(module)" })),
      };
    }
    m = /^\s*from\s+([\w.]+)\s+import\s+\(?(?:\w+(?:\s+as\s+\w+)?\s*,\s*)*(\w*)$/.exec(head);
    if (m) {
      const members = info.modules[m[1]];
      if (!members) return null;
      return { from: context.pos - m[2].length, validFor: IDENT, options: members.map(option) };
    }

    const word = context.matchBefore(/\w*/);
    const text = context.state.doc.toString();
    if (word.from > 0 && text[word.from - 1] === ".") {
      const chain = chainBefore(text, word.from - 1);
      if (!chain) return null;
      const target = resolve(chain.segments, text, word.from, info);
      if (!target) return null;
      const entries = target.module ? info.modules[target.module] : info.types[target.type];
      if (!entries) return null;
      return { from: word.from, validFor: IDENT, options: entries.map(option) };
    }
    if (/^\d/.test(word.text) || (word.text === "" && !context.explicit)) return null;
    if (NEW_NAME.test(head)) return null;

    const options = [...info.globals, ...info.builtins, ...info.keywords].map(option);
    const callee = openCall(text, word.from);
    const before = text.slice(Math.max(0, word.from - 200), word.from).trimEnd();
    if (callee && info.keys[callee] && /[(,]$/.test(before)) {
      options.push(...info.keys[callee].map((e) => ({ ...option(e), boost: 10 })));
    }
    return { from: word.from, validFor: IDENT, options };
  };
}

// The script's own names (lang-python), except in an import, where only modules make sense
// (it would offer the half-typed module name itself, as a name the import binds).
function localNames(context) {
  const line = context.state.doc.lineAt(context.pos);
  const head = line.text.slice(0, context.pos - line.from);
  if (/^\s*(import|from)\s/.test(head) || NEW_NAME.test(head)) return null;
  return localCompletionSource(context);
}

// The editor's completion extension: ours first, then the script's own names.
export function scriptCompletion(url) {
  return autocompletion({
    override: [scriptSource(url), localNames],
    activateOnTyping: true,
    icons: true,
  });
}

// Load the data while the builder reads the script, so the first popup does not wait.
export function preloadCompletion(url) {
  data(url);
}
