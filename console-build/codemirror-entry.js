// The one CodeMirror 6 bundle the console's editor imports (runtime/console/static/js/editor.js).
// Only what the editor uses is exported, so esbuild can leave the rest out.
export { EditorState, Compartment } from "@codemirror/state";
export {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  highlightSpecialChars, drawSelection, rectangularSelection, dropCursor,
} from "@codemirror/view";
export {
  defaultKeymap, history, historyKeymap, indentWithTab,
} from "@codemirror/commands";
export {
  syntaxHighlighting, defaultHighlightStyle, indentOnInput, bracketMatching, foldGutter,
  foldKeymap, syntaxTree,
} from "@codemirror/language";
export { search, searchKeymap, highlightSelectionMatches, openSearchPanel } from "@codemirror/search";
export {
  closeBrackets, closeBracketsKeymap, autocompletion, completionKeymap, startCompletion,
  completionStatus, currentCompletions,
} from "@codemirror/autocomplete";
export { lintGutter, setDiagnostics, lintKeymap, forceLinting } from "@codemirror/lint";
export { python, localCompletionSource } from "@codemirror/lang-python";
