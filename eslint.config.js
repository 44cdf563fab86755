// Dependency lines of src/ (README "Architecture"): which top-level folder may import which, and no import
// cycles. Syntax-only (no type information), so it stays fast.
import importX, { createNodeResolver } from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

/**
 * The folder graph, lowest layer first: each entry may import only the entries listed (and itself). Type-only
 * imports follow it too, with the one exception below. A folder not listed here is refused by `npm run lint`.
 */
export const LAYERS = {
  "errors.ts": [],
  "version.ts": [],
  internal: ["errors.ts"],
  io: ["internal", "errors.ts"],
  types: ["io", "internal", "errors.ts"],
  store: ["types", "io", "internal", "errors.ts"],
  secrets: ["internal", "errors.ts"],
  report: ["internal", "errors.ts"],
  images: ["secrets", "internal", "errors.ts", "version.ts"],
  authoring: ["images", "secrets", "types", "io", "internal", "errors.ts"],
  controller: ["authoring", "store", "types", "io", "secrets", "report", "internal", "errors.ts"],
  queue: ["controller", "authoring", "store", "types", "io", "secrets", "internal", "errors.ts"],
  run: ["queue", "controller", "authoring", "store", "images", "secrets", "types", "io", "report", "internal", "errors.ts", "version.ts"],
  sandbox: ["run", "authoring", "types", "io", "secrets", "internal", "errors.ts"],
  clustered: ["run", "controller", "authoring", "images", "secrets", "types", "io", "report", "internal", "errors.ts"],
  deploy: ["run", "controller", "authoring", "store", "images", "io", "internal", "errors.ts"],
  // Local development tools (`flyte dev cluster`'s PostgreSQL, also used by the tests and benchmarks).
  dev: ["internal", "errors.ts"],
  // Kubernetes manifests of a whole installation (`flyte k8s manifests`).
  k8s: ["clustered", "authoring", "images", "secrets", "internal", "errors.ts"],
  worker: ["deploy", "run", "queue", "controller", "authoring", "store", "types", "io", "secrets", "internal", "errors.ts"],
  // The trigger scheduler of `flyte serve`: it starts runs of deployed code (worker/'s loader) through run/.
  schedule: ["worker", "run", "controller", "authoring", "store", "internal", "errors.ts"],
  // The web UI's server reads runs through the public API only (index.ts and io/'s public index).
  ui: ["index.ts", "io", "errors.ts"],
};
const ALL = [...Object.keys(LAYERS), "index.ts", "extend.ts", "cli"];

/**
 * Imports allowed against the graph, `import type` only: `env.sandbox`'s type (sandbox/ registers the getter's
 * implementation when it loads; authoring never loads sandbox/, and a value import would be an import-x/no-cycle error).
 */
const TYPE_ONLY_EXCEPTIONS = { authoring: { sandbox: ["./namespace.ts"] } };

const at = (entry) => `./src/${entry}`;

function layerZones(entry) {
  const allowed = new Set([entry, ...LAYERS[entry]]);
  return ALL.filter((other) => !allowed.has(other)).map((other) => ({
    target: at(entry),
    from: at(other),
    ...(TYPE_ONLY_EXCEPTIONS[entry]?.[other] ? { except: TYPE_ONLY_EXCEPTIONS[entry][other] } : {}),
    message: `src/${entry} may import only: ${LAYERS[entry].join(", ") || "nothing in src"} (eslint.config.js LAYERS).`,
  }));
}

// cli/ uses the package as a user does: its public modules (the package.json exports), run/, the dev tools and the
// generic helpers.
const CLI_MESSAGE = "src/cli may import only the public API (index.ts, errors.ts, extend.ts, io/, report/, clustered/, ui/ index.ts), run/, dev/ and internal/.";
const CLI_ALLOWED_IN = { io: ["./index.ts"], report: ["./index.ts"], clustered: ["./index.ts"], ui: ["./index.ts"] };
function cliZones(alsoAllowed = []) {
  return ALL.filter((o) => !["cli", "index.ts", "extend.ts", "errors.ts", "version.ts", "run", "dev", "internal", ...alsoAllowed].includes(o)).map((other) => ({
    target: at("cli"),
    from: at(other),
    ...(CLI_ALLOWED_IN[other] ? { except: CLI_ALLOWED_IN[other] } : {}),
    message: CLI_MESSAGE,
  }));
}

/**
 * TEMPORARY: cli files that still reach past the public API (issue #14 item 4 moves them onto it). Each
 * entry names the folders that file may still import; delete the entry once the file no longer needs it.
 */
const CLI_PENDING = {
  "src/cli/commands/secret.ts": ["secrets"], // describeSecret (the secret store has no public API yet)
  "src/cli/commands/build.ts": ["authoring", "images"], // listLoadedEnvironments, buildEnvironments, BUILDER_NAMES, setImageConfig
  "src/cli/commands/k8s.ts": ["clustered", "k8s", "images"], // jobSetNameFor (clustered/jobset.ts), the installation (k8s/), the registry check (images/)
  "src/cli/commands/clustered.ts": ["clustered", "worker"], // the in-pod launcher (clustered/pod-launcher.ts) and deployed code (worker/deployed-code.ts)
  "src/cli/inputs/input-specs.ts": ["types"], // schemaToJsonSchema (types/schema.ts)
};

const restricted = (zones) => ["error", { zones }];

export default [
  { ignores: ["node_modules/**", "dist/**"] },
  {
    // test/fixtures/lint: the files test/lint.test.ts lints to prove the cycle rule fires (`npm run lint` covers src/ only).
    files: ["src/**/*.ts", "test/fixtures/lint/*.ts"],
    languageOptions: { parser: tseslint.parser, ecmaVersion: 2022, sourceType: "module" },
    plugins: { "import-x": importX, "@typescript-eslint": tseslint.plugin },
    settings: {
      "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".js"] })],
      // Without these, import-x cannot read an imported .ts file and no-cycle silently finds nothing.
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
    },
    // Only the dependency rules: style is left to review (the plugin is loaded so that the sources'
    // eslint-disable comments for its rules resolve).
    linterOptions: { reportUnusedDisableDirectives: "off" },
    rules: {
      // Value imports only: `import type` is erased and cannot form a runtime cycle.
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
    },
  },
  ...Object.keys(LAYERS).map((entry) => ({
    files: [entry.endsWith(".ts") ? `src/${entry}` : `src/${entry}/**/*.ts`],
    ignores: ["src/**/*.test.ts"], // a unit test may use a higher layer to build its inputs
    rules: { "import-x/no-restricted-paths": restricted(layerZones(entry)) },
  })),
  { files: ["src/cli/**/*.ts"], rules: { "import-x/no-restricted-paths": restricted(cliZones()) } },
  ...Object.entries(CLI_PENDING).map(([file, folders]) => ({
    files: [file],
    rules: { "import-x/no-restricted-paths": restricted(cliZones(folders)) },
  })),
];

