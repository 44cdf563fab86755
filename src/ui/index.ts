/**
 * `flyte-ts/ui`: the local web UI's server (what `flyte ui` starts). Open the runtime first (`init` /
 * `initFromConfig`), then `startUiServer()`; it reads runs through the public API only.
 * @module
 */
export { startUiServer, UiPortError } from "./server.ts";
export type { UiServer, UiServerOptions } from "./server.ts";
