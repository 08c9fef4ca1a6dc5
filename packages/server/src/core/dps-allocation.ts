/**
 * How DPS picks a hub for a new device: weighted rendezvous hashing over the enrollment's hubs, balanced
 * by the devices each already has (per enrollment). Pure functions.
 */
import { createHash } from 'node:crypto';
import type { Attested, RegistrationRecord } from './dps-types.js';

/**
 * Weighted rendezvous hashing: the same registration id always lands on the same hub, hubs get devices in
 * proportion to their weights, and adding a hub moves only the devices it wins.
 */
export function allocateHub(registrationId: string, weights: ReadonlyMap<string, number>): string | undefined {
  let best: string | undefined;
  let bestScore = -Infinity;
  for (const [hub, weight] of weights) {
    if (!(weight > 0)) continue;
    const digest = createHash('sha256').update(`${hub}\u0000${registrationId}`).digest();
    // 53 bits of the hash as a uniform number in (0, 1).
    const u = (digest.readUIntBE(0, 6) * 32 + (digest[6]! >> 3) + 0.5) / 2 ** 53;
    const score = -weight / Math.log(u);
    if (score > bestScore) {
      bestScore = score;
      best = hub;
    }
  }
  return best;
}

/** The key allocation counts are kept under: `individual` or `group:{id}`. */
export function enrollmentKeyOf(enrollment: RegistrationRecord['enrollment'] | Attested['enrollment']): string {
  if (enrollment.kind === 'individual') return 'individual';
  return `group:${'group' in enrollment ? enrollment.group.enrollmentGroupId : enrollment.enrollmentGroupId}`;
}

/**
 * The hub with the lowest device count relative to its weight; ties go to the rendezvous-hash winner among
 * the tied hubs, so equal states always give the same answer.
 */
export function balancedHub(
  registrationId: string,
  weights: ReadonlyMap<string, number>,
  counts: ReadonlyMap<string, number>,
): string | undefined {
  let lowest = Infinity;
  let tied = new Map<string, number>();
  for (const [hub, weight] of weights) {
    if (!(weight > 0)) continue;
    const load = ((counts.get(hub) ?? 0) + 1) / weight;
    if (load < lowest - 1e-9) {
      lowest = load;
      tied = new Map([[hub, weight]]);
    } else if (Math.abs(load - lowest) <= 1e-9) {
      tied.set(hub, weight);
    }
  }
  return allocateHub(registrationId, tied);
}
