/**
 * A device's raw data, as Central's raw data view shows it: each message with its displayed, enqueued
 * and creation times, its component, the values its template models, and each unmodeled value with the
 * reason it is not (`/plugboard/devices/{id}/rawMessages`, then live from the event stream). Newest
 * first; the latest {@link KEEP} are kept.
 */
import { useEffect, useState } from 'preact/hooks';
import { onFailure, type Api } from './api.js';
import { formatTime } from './devices-page.js';
import { ErrorNote } from './error-note.js';

/** Messages the view keeps. */
const KEEP = 200;
/** Pages of stored messages read when the view opens (1,000 each, the last 24 hours). */
const MAX_PAGES = 20;

/** One message as the raw data API and the event stream give it. */
export interface RawMessage {
  sequenceNumber?: number;
  timestamp: string;
  enqueuedTime: string;
  creationTime?: string;
  component?: string;
  module?: string;
  modeled: Record<string, unknown>;
  unmodeled: { name: string; value: unknown; reason: string }[];
  invalid?: string;
  body?: string;
}

function json(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value ?? null);
}

interface Props {
  api: Api;
  deviceId: string;
  onUnauthorized: () => void;
}

export function RawData({ api, deviceId, onUnauthorized }: Props) {
  const [messages, setMessages] = useState<RawMessage[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);

  useEffect(() => {
    let current = true;
    setMessages(undefined);
    (async () => {
      const stored: RawMessage[] = [];
      const from = new Date(Date.now() - 24 * 3600_000).toISOString();
      let after: number | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const query = new URLSearchParams({ from, top: '1000' });
        if (after !== undefined) query.set('after', String(after));
        const answer = await api.get<{ value: RawMessage[]; next?: number }>(
          `/plugboard/devices/${encodeURIComponent(deviceId)}/rawMessages?${query.toString()}`,
        );
        stored.push(...answer.value);
        if (stored.length > KEEP) stored.splice(0, stored.length - KEEP);
        if (answer.next === undefined) break;
        after = answer.next;
      }
      if (!current) return;
      // Newest first; live messages that came meanwhile stay on top.
      setMessages((live) => [...(live ?? []), ...stored.reverse()].slice(0, KEEP));
    })().catch(onFailure(onUnauthorized, setError));
    const stop = api.events({ deviceId, types: 'telemetry' }, (event) => {
      const message = event.data as unknown as RawMessage;
      setMessages((now) => [message, ...(now ?? [])].slice(0, KEEP));
    });
    return () => {
      current = false;
      stop();
    };
  }, [api, deviceId]);

  if (error !== undefined) {
    return <ErrorNote message={error} />;
  }
  if (messages === undefined) return <p>Loading raw data…</p>;
  if (messages.length === 0) return <p>No messages in the last 24 hours.</p>;
  return (
    <table class="raw">
      <caption>The latest {messages.length} messages, newest first</caption>
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Enqueued</th>
          <th scope="col">Created</th>
          <th scope="col">Component</th>
          <th scope="col">Modeled</th>
          <th scope="col">Unmodeled</th>
        </tr>
      </thead>
      <tbody>
        {messages.map((m) => (
          <tr key={`${m.enqueuedTime}-${m.sequenceNumber ?? ''}`}>
            <td>{formatTime(m.timestamp)}</td>
            <td>{formatTime(m.enqueuedTime)}</td>
            <td>{m.creationTime === undefined ? '—' : formatTime(m.creationTime)}</td>
            <td>{[m.module, m.component].filter((p) => p !== undefined).join(' / ') || '—'}</td>
            <td class="modeled">
              {Object.entries(m.modeled).map(([name, value]) => (
                <div>
                  <code>{name}</code>: {json(value)}
                </div>
              ))}
            </td>
            <td class="unmodeled">
              {m.invalid === undefined ? null : (
                <div>
                  Not a JSON object: {m.invalid} <code>{m.body}</code>
                </div>
              )}
              {m.unmodeled.map((u) => (
                <div>
                  <code>{u.name}</code>: {json(u.value)} <span class="reason">— {u.reason}</span>
                </div>
              ))}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
