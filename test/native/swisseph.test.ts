import t from 'tap';
import { ZodError } from 'zod';
import { NatalChartInput, bodyAtTt, houseOf, natalChart, trueObliquity } from '../../native-bindings/swisseph.ts';

const DEG = Math.PI / 180;
function angDiff(a: number, b: number): number {
  let d = (a - b) % 360;
  if (d > 180) d -= 360;
  if (d < -180) d += 360;
  return Math.abs(d);
}

t.test("the Sun's apparent longitude at J2000.0 (2000-01-01 12:00 TT) is 280.3689 deg", async (t) => {
  const sun = bodyAtTt('sun', 2451545.0);
  t.ok(angDiff(sun.longitude, 280.3689) < 0.01, `got ${sun.longitude.toFixed(5)}`);
});

t.test('March equinox 2024-03-20 03:06 UTC: Sun longitude 0 within 0.01 deg', async (t) => {
  const chart = natalChart({ date: '2024-03-20', time: '03:06', latitude: 51.48, longitude: 0 });
  const sun = chart.bodies.find((b) => b.body === 'sun')!;
  t.ok(angDiff(sun.longitude, 0) < 0.01, `got ${sun.longitude.toFixed(5)}`);
  t.equal(chart.ephemeris, 'swiss');
});

t.test('Moon, Meeus Astronomical Algorithms example 47.a (1992-04-12 0h TD)', async (t) => {
  // apparent longitude 133.167265 deg, latitude -3.229126 deg, distance 368409.7 km
  const moon = bodyAtTt('moon', 2448724.5);
  t.ok(angDiff(moon.longitude, 133.167265) < 0.01, `longitude ${moon.longitude.toFixed(5)}`);
  t.ok(Math.abs(moon.latitude - -3.229126) < 0.01, `latitude ${moon.latitude.toFixed(5)}`);
  t.ok(Math.abs(moon.distanceAu * 149597870.7 - 368409.7) < 50, `distance ${(moon.distanceAu * 149597870.7).toFixed(1)} km`);
});

t.test('total solar eclipse 2024-04-08 18:18 UTC: Sun-Moon conjunction', async (t) => {
  const chart = natalChart({ date: '2024-04-08', time: '18:18', latitude: 25.3, longitude: -104.1 });
  const conj = chart.aspects.find((a) => a.a === 'sun' && a.b === 'moon');
  t.equal(conj?.type, 'conjunction');
  t.ok(conj !== undefined && conj.orb < 0.5, `orb ${conj?.orb.toFixed(3)}`);
  const mercury = chart.bodies.find((b) => b.body === 'mercury')!;
  t.equal(mercury.retrograde, true, 'Mercury retrograde (1-25 April 2024)');
  const later = natalChart({ date: '2024-05-10', time: '12:00', latitude: 0, longitude: 0 });
  t.equal(later.bodies.find((b) => b.body === 'mercury')!.retrograde, false, 'direct again in May');
});

t.test('chart structure: houses, angles, signs, aspects consistent', async (t) => {
  const input = { date: '1990-07-15', time: '14:30:00', latitude: 40.7128, longitude: -74.006 };
  const chart = natalChart(input);
  t.equal(chart.bodies.length, 11);
  t.same(chart.bodies.map((b) => b.body), ['sun', 'moon', 'mercury', 'venus', 'mars', 'jupiter', 'saturn', 'uranus', 'neptune', 'pluto', 'meanNode']);
  t.equal(chart.houseSystem, 'placidus');
  t.equal(chart.houses.length, 12);
  t.ok(angDiff(chart.houses[0]!, chart.ascendant.longitude) < 1e-9, 'cusp 1 = ascendant');
  t.ok(angDiff(chart.houses[9]!, chart.mc.longitude) < 1e-9, 'cusp 10 = MC');
  for (let i = 0; i < 6; i++) t.ok(Math.abs(angDiff(chart.houses[i]!, chart.houses[i + 6]!) - 180) < 1e-9, `cusp ${i + 1} opposite ${i + 7}`);
  // MC and ascendant from sidereal time (RAMC) and obliquity, independent of libswe's house code
  const eps = trueObliquity(chart.julianDayUt) * DEG;
  const gmstHours = (18.697374558 + 24.06570982441908 * (chart.julianDayUt - 2451545.0)) % 24;
  // apparent sidereal time differs from mean by the equation of the equinoxes (< 1.2 s): 0.005 deg
  const ramc = (((gmstHours * 15 + input.longitude) % 360) + 360) % 360 * DEG;
  const mc = Math.atan2(Math.sin(ramc), Math.cos(ramc) * Math.cos(eps)) / DEG;
  const asc = Math.atan2(Math.cos(ramc), -(Math.sin(ramc) * Math.cos(eps) + Math.tan(input.latitude * DEG) * Math.sin(eps))) / DEG;
  t.ok(angDiff(chart.mc.longitude, mc) < 0.02, `MC ${chart.mc.longitude.toFixed(3)} vs ${(((mc % 360) + 360) % 360).toFixed(3)}`);
  t.ok(angDiff(chart.ascendant.longitude, asc) < 0.02, `ASC ${chart.ascendant.longitude.toFixed(3)} vs ${(((asc % 360) + 360) % 360).toFixed(3)}`);
  for (const b of chart.bodies) {
    t.ok(b.longitude >= 0 && b.longitude < 360);
    t.ok(Math.abs(b.degreeInSign + 30 * ['aries', 'taurus', 'gemini', 'cancer', 'leo', 'virgo', 'libra', 'scorpio', 'sagittarius', 'capricorn', 'aquarius', 'pisces'].indexOf(b.sign) - b.longitude) < 1e-9);
    t.equal(b.house, houseOf(b.longitude, chart.houses));
    t.equal(b.retrograde, b.speed < 0);
  }
  t.equal(chart.bodies[0]!.sign, 'cancer', 'Sun in Cancer on 15 July');
  for (const a of chart.aspects) {
    const p = chart.bodies.find((b) => b.body === a.a)!;
    const q = chart.bodies.find((b) => b.body === a.b)!;
    const dev = Math.abs(angDiff(p.longitude, q.longitude) - a.angle);
    t.ok(Math.abs(dev - a.orb) < 1e-9 && a.orb <= 10, `${a.a} ${a.type} ${a.b} orb ${a.orb.toFixed(2)}`);
  }
});

t.test('polar latitude falls back to Porphyry houses', async (t) => {
  const chart = natalChart({ date: '2024-03-20', time: '03:06', latitude: 70, longitude: 20 });
  t.equal(chart.houseSystem, 'porphyry');
  t.equal(chart.houses.length, 12);
});

t.test('dates outside the shipped files use the Moshier ephemeris', async (t) => {
  const chart = natalChart({ date: '1700-01-01', time: '00:00', latitude: 0, longitude: 0 });
  t.equal(chart.ephemeris, 'moshier');
  t.ok(chart.bodies[0]!.longitude > 279 && chart.bodies[0]!.longitude < 282, 'Sun near 280 deg on 1 January');
});

t.test('input validation', async (t) => {
  t.throws(() => natalChart({ date: '2024-02-30', time: '12:00', latitude: 0, longitude: 0 }), ZodError);
  t.throws(() => natalChart({ date: '2024-02-01', time: '25:00', latitude: 0, longitude: 0 }), ZodError);
  t.throws(() => natalChart({ date: '2024-02-01', time: '12:00', latitude: 91, longitude: 0 }), ZodError);
  t.equal(NatalChartInput.safeParse({ date: '2024-02-29', time: '12:00:30', latitude: -33.9, longitude: 151.2 }).success, true);
});
