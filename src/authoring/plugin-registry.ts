/**
 * `TaskPluginRegistry`: maps a plugin config class to the template class `env.task({ pluginConfig })` builds.
 */
import { ValidationError } from "../errors.ts";
import { FunctionTaskTemplate } from "./function-task-template.ts";
import { _setPluginLookup } from "./task-template.ts";

interface PluginEntry {
  templateClass: typeof FunctionTaskTemplate;
  supportsReusePolicy: boolean;
}

const plugins = new Map<Function, PluginEntry>();

function configClassOf(config: unknown): Function | undefined {
  if (typeof config !== "object" || config === null) return undefined;
  for (let p = Object.getPrototypeOf(config); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    if (plugins.has(p.constructor)) return p.constructor as Function;
  }
  return undefined;
}

export class TaskPluginRegistry {
  /** Registers the template class built for tasks whose `pluginConfig` is an instance of `configType`. */
  static register(
    configType: abstract new (...args: never[]) => unknown,
    templateClass: typeof FunctionTaskTemplate,
    o: { supportsReusePolicy?: boolean } = {},
  ): void {
    if (plugins.has(configType)) {
      throw new ValidationError(`TaskPluginRegistry: a plugin for config type ${configType.name} is already registered. Register each config type once.`);
    }
    plugins.set(configType, { templateClass, supportsReusePolicy: o.supportsReusePolicy ?? false });
  }

  static find(configType: Function): typeof FunctionTaskTemplate | undefined {
    return plugins.get(configType)?.templateClass;
  }

  /** @internal */
  static entryFor(config: unknown): PluginEntry | undefined {
    const cls = configClassOf(config);
    return cls ? plugins.get(cls) : undefined;
  }
}

_setPluginLookup((config) => TaskPluginRegistry.entryFor(config));
