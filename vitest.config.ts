import { transform } from "esbuild";
import { defaultServerConditions } from "vite";
import { defineConfig, type Plugin } from "vitest/config";

/**
 * Task names come from function names. Vite's own TypeScript transform forces esbuild's keepNames off, so
 * `export const square = env.task(async function square() {})` would name the task "square2"; this plugin
 * transforms TypeScript with keepNames on, exactly as tsx (used by the `flyte` CLI) does.
 */
function keepNames(): Plugin {
  return {
    name: "flyte-ts:keep-names",
    enforce: "pre",
    async transform(code, id) {
      const file = id.split("?")[0]!;
      if (!/\.(m?ts|tsx)$/.test(file) || file.includes("/node_modules/")) return undefined;
      const r = await transform(code, {
        loader: file.endsWith("x") ? "tsx" : "ts", keepNames: true, target: "es2022", format: "esm", sourcemap: true, sourcefile: file,
        tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true } },
      });
      return { code: r.code, map: r.map };
    },
  };
}

export default defineConfig({
  esbuild: false,
  plugins: [keepNames()],
  // Tests import "flyte-ts" by name; resolve it to the sources (as the CLI does in a checkout), never to a built dist/.
  // "module" is left out: it points some dependencies (@aws-sdk) at ESM builds that Node itself cannot load.
  ssr: { resolve: { conditions: ["flyte-ts-source", ...defaultServerConditions.filter((c) => c !== "module")] } },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
