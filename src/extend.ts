/**
 * `flyte-ts/extend`: hooks for plugin authors: task template base classes, the plugin registry and the
 * type engine.
 * @module
 */
export { TaskTemplate } from "./authoring/task-template.ts";
export type { TaskTemplateOptions, TaskInterface } from "./authoring/task-template.ts";
export { FunctionTaskTemplate } from "./authoring/function-task-template.ts";
export type { FunctionTaskTemplateOptions } from "./authoring/function-task-template.ts";
export { TaskPluginRegistry } from "./authoring/plugin-registry.ts";
export { TypeEngine } from "./types/type-engine.ts";
export type { TypeTransformer, SerializationContext } from "./types/type-engine.ts";
