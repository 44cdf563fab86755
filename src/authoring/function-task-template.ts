/**
 * `FunctionTaskTemplate`: a task whose body is a user function (← flyte-sdk AsyncFunctionTaskTemplate).
 * `env.task(...)` creates these; `new FunctionTaskTemplate({ name, fn })` makes a detached one for
 * `TaskEnvironment.fromTask`.
 */
import { ValidationError } from "../errors.ts";
import { show } from "../internal/validate.ts";
import { TaskTemplate, type TaskTemplateOptions } from "./task-template.ts";

export interface FunctionTaskTemplateOptions extends Omit<TaskTemplateOptions, "name"> {
  /** @default fn.name */
  name?: string;
  fn: (inputs: never) => unknown;
}

export class FunctionTaskTemplate<I = any, O = any> extends TaskTemplate<I, O> {
  declare readonly fn: (inputs: I) => O | Promise<O>;

  constructor(o: FunctionTaskTemplateOptions) {
    if (typeof o?.fn !== "function") {
      throw new ValidationError(`FunctionTaskTemplate: fn must be a function, got ${show(o?.fn)}.`, { field: "fn" });
    }
    const name = o.name ?? o.fn.name;
    if (!name) throw new ValidationError("Task function has no name. Use a named function or pass { name }.", { field: "name" });
    if (o.fn.length > 1) {
      throw new ValidationError(
        `Task "${name}": Task functions take one object of named inputs, but ${name} declares ${o.fn.length} parameters. Use function ${name}({ a, b }: { a: number; b: number }).`,
        { field: "fn" },
      );
    }
    super({ ...o, name });
    Object.defineProperty(this, "fn", { value: o.fn, enumerable: true, configurable: true });
  }

  async execute(inputs: I): Promise<O> {
    return await this.fn(inputs);
  }

  override forward(inputs: I): O | Promise<O> {
    return this.fn(inputs);
  }
}
