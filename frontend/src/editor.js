// The node editor of the console: CodeMirror 6 with SQL, Python and shell modes and
// problems shown at their line. Exposed as window.LakeworksEditor.
import { EditorView, basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { StreamLanguage } from "@codemirror/language";
import { sql } from "@codemirror/lang-sql";
import { python } from "@codemirror/lang-python";
import { shell } from "@codemirror/legacy-modes/mode/shell";
import { yaml } from "@codemirror/legacy-modes/mode/yaml";
import { setDiagnostics, lintGutter } from "@codemirror/lint";

function languageFor(kind) {
  if (kind === "sql") return sql();
  if (kind === "python") return python();
  if (kind === "shell") return StreamLanguage.define(shell);
  if (kind === "sync" || kind === "yaml") return StreamLanguage.define(yaml);
  return [];
}

function create(parent, options) {
  const onChange = options.onChange || (() => {});
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: options.doc || "",
      extensions: [
        basicSetup,
        lintGutter(),
        languageFor(options.kind),
        EditorState.readOnly.of(Boolean(options.readOnly)),
        EditorView.editable.of(!options.readOnly),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) onChange(view.state.doc.toString());
        }),
      ],
    }),
  });
  return {
    view,
    getValue: () => view.state.doc.toString(),
    setValue: (text) =>
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
    // problems: [{line (1-based), message}]
    showProblems(problems) {
      const doc = view.state.doc;
      const diagnostics = problems.map((p) => {
        const number = Math.min(Math.max(p.line || 1, 1), doc.lines);
        const line = doc.line(number);
        return { from: line.from, to: line.to, severity: "error", message: p.message };
      });
      view.dispatch(setDiagnostics(view.state, diagnostics));
      if (diagnostics.length) {
        view.dispatch({ selection: { anchor: diagnostics[0].from }, scrollIntoView: true });
      }
    },
  };
}

window.LakeworksEditor = { create };
