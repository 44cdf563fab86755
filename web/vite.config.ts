// The `flyte ui` front end (Preact). `npm run build` builds it into dist/ui/web (shipped in the package);
// a source checkout builds it on demand into .ui-build/ (src/ui/assets.ts).
import { fileURLToPath } from "node:url";
import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  plugins: [preact()],
  build: { outDir: fileURLToPath(new URL("../dist/ui/web", import.meta.url)), emptyOutDir: true, sourcemap: false, target: "es2022" },
});
