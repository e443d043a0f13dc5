// Builds the console's vendored browser code from the pinned package-lock.json:
//   npm ci && node build.mjs
// Output (committed; .ci/run rebuilds and fails if it differs):
//   ../runtime/console/static/vendor/codemirror.js   CodeMirror 6 + Python, one ES module
//   ../runtime/console/static/vendor/htmx.min.js     htmx, as published
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "runtime", "console", "static", "vendor");
mkdirSync(out, { recursive: true });

const versions = (name) =>
  JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8")).version;

await build({
  entryPoints: [join(here, "codemirror-entry.js")],
  outfile: join(out, "codemirror.js"),
  bundle: true,
  format: "esm",
  minify: true,
  target: ["es2020"],
  legalComments: "eof",
  charset: "utf8",
  banner: {
    js: `/* CodeMirror 6 (@codemirror/view ${versions("@codemirror/view")}, ` +
      `lang-python ${versions("@codemirror/lang-python")}), MIT license; ` +
      "built by console-build/build.mjs */",
  },
  logLevel: "warning",
});

copyFileSync(join(here, "node_modules", "htmx.org", "dist", "htmx.min.js"), join(out, "htmx.min.js"));
console.log(`built codemirror.js and htmx.min.js (htmx ${versions("htmx.org")}) in ${out}`);
