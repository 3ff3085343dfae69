/**
 * Who a limit is about: `customer:<id>` and `ip:<address>`. Pure: no I/O.
 *
 * Addresses are normalised so one client cannot look like several: an IPv4-mapped IPv6 address
 * (`::ffff:1.2.3.4`, as a dual-stack socket reports IPv4 peers) is the IPv4 address, and an IPv6
 * address stands for its whole /64, because a single subscriber is routinely handed a /64 and can
 * pick any of its 2^64 addresses per request.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Every address that does not parse shares this one subject, so garbage cannot be rotated. */
export const UNPARSEABLE_IP_SUBJECT = 'ip:unparseable';

export function subjectsFor(args: { readonly customerId: string | null; readonly ip: string | null }): string[] {
  const out: string[] = [];
  if (args.customerId !== null && args.customerId.length > 0) out.push(`customer:${args.customerId}`);
  if (args.ip !== null && args.ip.trim().length > 0) out.push(ipSubject(args.ip));
  return out;
}

/** `ip:1.2.3.4`, `ip:2001:db8:0:1::/64`, or UNPARSEABLE_IP_SUBJECT. */
export function ipSubject(raw: string): string {
  const address = stripDecorations(raw.trim());
  if (isIPv4(address)) return `ip:${address}`;
  if (!isIPv6(address)) return UNPARSEABLE_IP_SUBJECT;
  const groups = ipv6Groups(address);
  if (groups === undefined) return UNPARSEABLE_IP_SUBJECT;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const hi = groups[6] ?? 0;
    const lo = groups[7] ?? 0;
    return `ip:${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return `ip:${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** `[::1]`, `[::1]:443` and a zone (`fe80::1%eth0`) name the same host as the bare address. */
function stripDecorations(address: string): string {
  let a = address;
  const bracketed = /^\[([^\]]*)\](?::\d+)?$/.exec(a);
  if (bracketed?.[1] !== undefined) a = bracketed[1];
  const zone = a.indexOf('%');
  if (zone >= 0 && a.includes(':')) a = a.slice(0, zone);
  return a;
}

/** The eight 16-bit groups of an address that `isIPv6` accepted (which rules out malformed input). */
function ipv6Groups(address: string): number[] | undefined {
  const parseSide = (side: string): number[] | undefined => {
    if (side.length === 0) return [];
    const out: number[] = [];
    for (const part of side.split(':')) {
      if (part.includes('.')) {
        const octets = part.split('.').map(Number);
        const [a = 0, b = 0, c = 0, d = 0] = octets;
        out.push((a << 8) | b, (c << 8) | d);
      } else {
        out.push(Number.parseInt(part, 16));
      }
    }
    return out.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff) ? out : undefined;
  };
  const halves = address.toLowerCase().split('::');
  if (halves.length > 2) return undefined;
  const head = parseSide(halves[0] ?? '');
  const tail = halves.length === 2 ? parseSide(halves[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}
