/**
 * How input readers name a wrong value in a refusal: `an object`, `an array`, `null`, or its type and
 * JSON text (`string "bogus"`), so the message says what was sent without echoing a whole document.
 */

/**
 * @example
 * describeValue({ x: 1 }); // 'an object'
 * describeValue('bogus'); // 'string "bogus"'
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return `${typeof value} ${text.length > 80 ? `${text.slice(0, 77)}...` : text}`;
}
