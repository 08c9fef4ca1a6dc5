/**
 * The marker a Plug and Play component object carries in reported/desired properties (protocol.md §6.3).
 *
 * @example
 * ```ts
 * const reported = { thermostat1: { ...COMPONENT_MARKER, maxTempSinceLastReboot: 38.7 } };
 * // { thermostat1: { __t: 'c', maxTempSinceLastReboot: 38.7 } }
 * ```
 */
export const COMPONENT_MARKER = { __t: 'c' } as const;

/**
 * The method name of a Plug and Play command: `component*command`, or `command` for the root component
 * (protocol.md §6.5).
 *
 * @example
 * ```ts
 * componentCommandName('thermostat1', 'getMaxMinReport'); // 'thermostat1*getMaxMinReport'
 * componentCommandName(undefined, 'reboot'); // 'reboot'
 * ```
 */
export function componentCommandName(component: string | undefined, command: string): string {
  return component === undefined ? command : `${component}*${command}`;
}

/**
 * A method name split into its Plug and Play component and command.
 *
 * @example
 * ```ts
 * const name: CommandName = { component: 'thermostat1', command: 'getMaxMinReport' };
 * ```
 */
export interface CommandName {
  component?: string;
  command: string;
}

/**
 * Splits a method name at its first `*` (protocol.md §6.5). A name without `*`, or whose `*` is the first or
 * last character (an empty component or command), is a root command named as a whole.
 *
 * @example
 * ```ts
 * parseCommandName('thermostat1*getMaxMinReport'); // { component: 'thermostat1', command: 'getMaxMinReport' }
 * parseCommandName('reboot'); // { command: 'reboot' }
 * ```
 */
export function parseCommandName(name: string): CommandName {
  const star = name.indexOf('*');
  if (star <= 0 || star === name.length - 1) return { command: name };
  return { component: name.slice(0, star), command: name.slice(star + 1) };
}

/**
 * A writable-property acknowledgement (protocol.md §6.4): `value` applied, `ac` HTTP-like status, `av` the
 * desired `$version` acknowledged (0 with `ac: 203` for device-set defaults), optional description `ad`.
 *
 * @example
 * ```ts
 * const ack: WritablePropertyAck<number> = { value: 21.3, ac: 200, av: 3, ad: 'completed' };
 * ```
 */
export interface WritablePropertyAck<T = unknown> {
  value: T;
  ac: number;
  av: number;
  ad?: string;
}

/**
 * Builds a writable-property acknowledgement object, omitting `ad` when it is `undefined` (so the JSON
 * carries no `"ad": null`).
 *
 * @example
 * ```ts
 * const patch = { targetTemperature: writablePropertyAck({ value: 21.3, ac: 200, av: 3, ad: 'completed' }) };
 * // { targetTemperature: { value: 21.3, ac: 200, av: 3, ad: 'completed' } }
 * ```
 */
export function writablePropertyAck<T>(ack: {
  value: T;
  ac: number;
  av: number;
  ad?: string | undefined;
}): WritablePropertyAck<T> {
  const result: WritablePropertyAck<T> = { value: ack.value, ac: ack.ac, av: ack.av };
  if (ack.ad !== undefined) result.ad = ack.ad;
  return result;
}
