/**
 * Natal charts over the Swiss Ephemeris (`swisseph` 0.5, libswe 2.09).
 *
 * Ephemeris: the package ships the compressed Swiss Ephemeris files for 1800-2399 AD
 * (`sepl_18.se1`, `semo_18.se1`), so we point libswe at them and ask for SEFLG_SWIEPH (sub-milliarcsecond
 * agreement with JPL DE431). Outside that range libswe falls back on its own to the built-in Moshier
 * ephemeris (~1 arcsecond for the planets, a few for the Moon, no files needed); `ephemeris` in the result
 * says which one answered.
 *
 * Positions are apparent geocentric tropical ecliptic longitudes of date (the astrological convention),
 * computed for the birth instant given in UTC. Houses are Placidus; Placidus is undefined inside the polar
 * circles, where the chart falls back to Porphyry and says so in `houseSystem`.
 *
 * Aspect orbs (degrees of allowed deviation from the exact angle), a common modern table:
 *
 *   | aspect      | angle | orb | orb when the Sun or Moon is involved |
 *   |-------------|-------|-----|--------------------------------------|
 *   | conjunction |   0   |  8  | 10                                   |
 *   | opposition  |  180  |  8  | 10                                   |
 *   | trine       |  120  |  7  |  9                                   |
 *   | square      |   90  |  7  |  9                                   |
 *   | sextile     |   60  |  5  |  6                                   |
 *
 * Aspects are computed between the ten bodies and the mean node; each pair gets at most one aspect (the
 * one with the smallest deviation). `applying` is true when the bodies' daily motions are closing the orb.
 *
 * libswe keeps global state (the ephemeris path, file handles); every call here is synchronous and
 * short (~0.2 ms per chart), so sharing it across sessions is safe.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';

interface CalcResult {
  longitude: number;
  latitude: number;
  distance: number;
  longitudeSpeed: number;
  latitudeSpeed: number;
  distanceSpeed: number;
  rflag: number;
}
interface HousesResult {
  house: number[];
  ascendant: number;
  mc: number;
  armc: number;
}
interface SwissEph {
  SE_GREG_CAL: 1;
  SEFLG_SWIEPH: number;
  SEFLG_MOSEPH: number;
  SEFLG_SPEED: number;
  SE_ECL_NUT: number;
  swe_set_ephe_path(path: string): unknown;
  swe_utc_to_jd(y: number, m: number, d: number, h: number, mi: number, s: number, cal: 1): { julianDayET: number; julianDayUT: number } | { error: string };
  swe_calc_ut(jdUt: number, body: number, flags: number): CalcResult | { error: string };
  swe_calc(jdTt: number, body: number, flags: number): CalcResult | { error: string };
  swe_houses(jdUt: number, lat: number, lon: number, hsys: string): HousesResult | { error: string };
}

const require = createRequire(import.meta.url);
const swe = require('swisseph') as SwissEph;
const EPHE_PATH = join(dirname(require.resolve('swisseph/package.json')), 'ephe');
swe.swe_set_ephe_path(EPHE_PATH);

const FLAGS = swe.SEFLG_SWIEPH | swe.SEFLG_SPEED;

export const BODIES = [
  ['sun', 0],
  ['moon', 1],
  ['mercury', 2],
  ['venus', 3],
  ['mars', 4],
  ['jupiter', 5],
  ['saturn', 6],
  ['uranus', 7],
  ['neptune', 8],
  ['pluto', 9],
  ['meanNode', 10],
] as const;

export type BodyName = (typeof BODIES)[number][0];

export const SIGNS = [
  'aries', 'taurus', 'gemini', 'cancer', 'leo', 'virgo',
  'libra', 'scorpio', 'sagittarius', 'capricorn', 'aquarius', 'pisces',
] as const;
export type Sign = (typeof SIGNS)[number];

export const ASPECTS = [
  { type: 'conjunction', angle: 0, orb: 8, luminaryOrb: 10 },
  { type: 'sextile', angle: 60, orb: 5, luminaryOrb: 6 },
  { type: 'square', angle: 90, orb: 7, luminaryOrb: 9 },
  { type: 'trine', angle: 120, orb: 7, luminaryOrb: 9 },
  { type: 'opposition', angle: 180, orb: 8, luminaryOrb: 10 },
] as const;
export type AspectType = (typeof ASPECTS)[number]['type'];

/** Tool/API input: birth date and time in UTC, and the birthplace. */
export const NatalChartInput = z
  .object({
    date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD').describe('Birth date (UTC), YYYY-MM-DD'),
    time: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$/, 'HH:MM or HH:MM:SS')
      .describe('Birth time in UTC (convert from local time first), HH:MM or HH:MM:SS'),
    latitude: z.number().min(-90).max(90).describe('Birthplace latitude, degrees north positive'),
    longitude: z.number().min(-180).max(180).describe('Birthplace longitude, degrees east positive'),
  })
  .superRefine((v, ctx) => {
    const [y, m, d] = v.date.split('-').map(Number) as [number, number, number];
    const probe = new Date(Date.UTC(y, m - 1, d));
    if (probe.getUTCFullYear() !== y || probe.getUTCMonth() !== m - 1 || probe.getUTCDate() !== d) {
      ctx.addIssue({ code: 'custom', path: ['date'], message: 'not a calendar date' });
    }
    if (y < 1000 || y > 2999) ctx.addIssue({ code: 'custom', path: ['date'], message: 'year must be 1000-2999' });
  });
export type NatalChartInput = z.infer<typeof NatalChartInput>;

export interface ZodiacPoint {
  /** Ecliptic longitude, degrees [0, 360). */
  longitude: number;
  sign: Sign;
  /** Degrees into the sign, [0, 30). */
  degreeInSign: number;
}

export interface BodyPosition extends ZodiacPoint {
  body: BodyName;
  /** Ecliptic latitude, degrees. */
  latitude: number;
  /** Geocentric distance, AU. */
  distanceAu: number;
  /** Longitude speed, degrees per day (negative when retrograde). */
  speed: number;
  retrograde: boolean;
  /** Placidus (or fallback) house 1..12 the body falls in. */
  house: number;
}

export interface Aspect {
  a: BodyName;
  b: BodyName;
  type: AspectType;
  /** The exact aspect angle (0, 60, 90, 120, 180). */
  angle: number;
  /** Deviation from exact, degrees (>= 0). */
  orb: number;
  /** True when the orb is shrinking (the aspect is still forming). */
  applying: boolean;
}

export interface NatalChart {
  input: NatalChartInput;
  julianDayUt: number;
  julianDayTt: number;
  ephemeris: 'swiss' | 'moshier';
  bodies: BodyPosition[];
  ascendant: ZodiacPoint;
  mc: ZodiacPoint;
  houseSystem: 'placidus' | 'porphyry';
  /** The 12 house cusps (index 0 = 1st house = ascendant), ecliptic longitude in degrees. */
  houses: number[];
  aspects: Aspect[];
}

function norm360(x: number): number {
  const r = x % 360;
  return r < 0 ? r + 360 : r;
}

function point(longitude: number): ZodiacPoint {
  const lon = norm360(longitude);
  const idx = Math.min(11, Math.floor(lon / 30));
  return { longitude: lon, sign: SIGNS[idx]!, degreeInSign: lon - idx * 30 };
}

/** House 1..12 for a longitude given the 12 cusps (cusps run counter-clockwise, wrapping at 360). */
export function houseOf(longitude: number, cusps: readonly number[]): number {
  for (let i = 0; i < 12; i++) {
    const start = cusps[i]!;
    const end = cusps[(i + 1) % 12]!;
    const span = norm360(end - start);
    if (norm360(longitude - start) < span) return i + 1;
  }
  return 1; // unreachable for 12 contiguous cusps; keeps the type total
}

function fail(what: string, r: { error: string }): never {
  throw new Error(`swisseph: ${what} failed: ${r.error}`);
}

/** Julian days (UT and TT) for a UTC calendar instant. */
export function julianDays(date: string, time: string): { ut: number; tt: number } {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const [hh, mm, ss] = time.split(':').map(Number) as [number, number, number | undefined];
  const r = swe.swe_utc_to_jd(y, m, d, hh, mm, ss ?? 0, swe.SE_GREG_CAL);
  if ('error' in r) fail('utc_to_jd', r);
  return { ut: r.julianDayUT, tt: r.julianDayET };
}

/**
 * Apparent geocentric ecliptic longitude etc. of one body at a Terrestrial Time Julian day (for tests
 * against almanac values, which are tabulated in TT).
 */
export function bodyAtTt(body: BodyName, jdTt: number): { longitude: number; latitude: number; distanceAu: number; speed: number } {
  const id = BODIES.find(([n]) => n === body)![1];
  const r = swe.swe_calc(jdTt, id, FLAGS);
  if ('error' in r) fail(`calc ${body}`, r);
  return { longitude: r.longitude, latitude: r.latitude, distanceAu: r.distance, speed: r.longitudeSpeed };
}

/** True obliquity of the ecliptic (degrees) at a UT Julian day. */
export function trueObliquity(jdUt: number): number {
  const r = swe.swe_calc_ut(jdUt, swe.SE_ECL_NUT, 0);
  if ('error' in r) fail('obliquity', r);
  return r.longitude;
}

function aspectsOf(bodies: readonly BodyPosition[]): Aspect[] {
  const out: Aspect[] = [];
  for (let i = 0; i < bodies.length; i++) {
    for (let j = i + 1; j < bodies.length; j++) {
      const p = bodies[i]!;
      const q = bodies[j]!;
      let sep = Math.abs(p.longitude - q.longitude);
      if (sep > 180) sep = 360 - sep;
      const luminary = p.body === 'sun' || p.body === 'moon' || q.body === 'sun' || q.body === 'moon';
      let best: Aspect | null = null;
      for (const asp of ASPECTS) {
        const dev = Math.abs(sep - asp.angle);
        if (dev <= (luminary ? asp.luminaryOrb : asp.orb) && (best === null || dev < best.orb)) {
          // Rate of change of the separation: the signed angular distance q - p moves at q.speed - p.speed.
          const signed = norm360(q.longitude - p.longitude); // in [0, 360)
          const sepRate = (signed <= 180 ? 1 : -1) * (q.speed - p.speed);
          const devRate = (sep >= asp.angle ? 1 : -1) * sepRate;
          best = { a: p.body, b: q.body, type: asp.type, angle: asp.angle, orb: dev, applying: devRate < 0 };
        }
      }
      if (best !== null) out.push(best);
    }
  }
  out.sort((x, y) => x.orb - y.orb);
  return out;
}

/** Computes a natal chart. Validates `input` with NatalChartInput (throws a ZodError on bad input). */
export function natalChart(input: NatalChartInput): NatalChart {
  const parsed = NatalChartInput.parse(input);
  const { ut, tt } = julianDays(parsed.date, parsed.time);
  let houseSystem: NatalChart['houseSystem'] = 'placidus';
  let h = swe.swe_houses(ut, parsed.latitude, parsed.longitude, 'P');
  if ('error' in h) {
    houseSystem = 'porphyry';
    h = swe.swe_houses(ut, parsed.latitude, parsed.longitude, 'O');
    if ('error' in h) fail('houses', h);
  }
  const cusps = h.house.slice(0, 12).map(norm360);
  let moshier = false;
  const bodies: BodyPosition[] = BODIES.map(([name, id]) => {
    const r = swe.swe_calc_ut(ut, id, FLAGS);
    if ('error' in r) fail(`calc ${name}`, r);
    if ((r.rflag & swe.SEFLG_MOSEPH) !== 0) moshier = true;
    const p = point(r.longitude);
    return {
      body: name,
      ...p,
      latitude: r.latitude,
      distanceAu: r.distance,
      speed: r.longitudeSpeed,
      retrograde: r.longitudeSpeed < 0,
      house: houseOf(p.longitude, cusps),
    };
  });
  return {
    input: parsed,
    julianDayUt: ut,
    julianDayTt: tt,
    ephemeris: moshier ? 'moshier' : 'swiss',
    bodies,
    ascendant: point(h.ascendant),
    mc: point(h.mc),
    houseSystem,
    houses: cusps,
    aspects: aspectsOf(bodies),
  };
}
