// Turns zod schemas (the one source of truth for our API types) into the structural OpenAPI
// schemas that CustomResourceDefinitions need, with CEL rules and list semantics carried as metadata.
import { z } from "zod";

export interface CelRule {
  readonly rule: string;
  readonly message: string;
  /** A CEL expression giving the message, e.g. to name the refused value; `message` is its fallback. */
  readonly messageExpression?: string;
  readonly fieldPath?: string;
  readonly reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

/** Attaches CEL validation rules to a schema node; the API server enforces them. */
export function cel<T extends z.ZodType>(schema: T, ...rules: CelRule[]): T {
  return schema.meta({ "x-kubernetes-validations": rules });
}

type Json = Record<string, unknown>;

function clean(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(clean);
  if (node === null || typeof node !== "object") return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) {
    // Structural schemas forbid additionalProperties beside properties, and carry no $schema or id.
    if (k === "$schema" || k === "id" || (k === "additionalProperties" && v === false)) continue;
    out[k] = clean(v);
  }
  return out;
}

export function structuralSchema(schema: z.ZodType): Json {
  return clean(z.toJSONSchema(schema, { target: "openapi-3.0", io: "input", unrepresentable: "throw" })) as Json;
}

/** The first problem zod found, as one sentence naming the field. */
export function firstIssue(err: z.ZodError, root = "spec"): string {
  const issue = err.issues[0];
  if (!issue) return "invalid value";
  const path = [root, ...issue.path.map(String)].join(".");
  return `${path}: ${issue.message}`;
}
