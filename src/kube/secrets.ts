// Reading values out of a Secret as the API server returns it (`data` is base64).

/** The decoded value of one key of a Secret's data, or undefined when the key is absent. */
export function secretValue(data: Record<string, string> | undefined, key: string): string | undefined {
  const v = data?.[key];
  return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
}
