// Internal helpers for the `a=b&c=d` query strings found in MQTT user names and topics.

/** Splits `a=b&c&d=` into raw `[key, value | null]` pairs (first `=` splits); empty items are skipped. */
export function splitQuery(query: string): Array<[key: string, value: string | null]> {
  const pairs: Array<[string, string | null]> = [];
  for (const item of query.split('&')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    pairs.push(eq < 0 ? [item, null] : [item.slice(0, eq), item.slice(eq + 1)]);
  }
  return pairs;
}

/** `decodeURIComponent`, or the input unchanged when it is not valid percent-encoding. */
export function decodeLenient(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Reads the first value of `name` from a topic query, matching keys after percent-decoding
 * (`%24rid` = `$rid`). Values are returned RAW: they are echoed back to the device byte for byte.
 */
export function rawQueryValue(query: string, name: string): string | undefined {
  for (const [key, value] of splitQuery(query)) {
    if (decodeLenient(key) === name) return value ?? '';
  }
  return undefined;
}

/** The non-empty raw `$rid` of a topic query, or `undefined`. */
export function ridOf(query: string): string | undefined {
  const rid = rawQueryValue(query, '$rid');
  return rid === undefined || rid === '' ? undefined : rid;
}
