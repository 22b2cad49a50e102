/**
 * The deployment files are never run here (no Docker engine), so this keeps them honest: the YAML
 * parses, every probe names a route the real server answers on the port the container exposes, the
 * gateway's grace period outlasts its drain, the HPA/PDB/Services select what exists, and the
 * Dockerfiles agree with the config defaults (ports, healthcheck, non-root, stop signal, spill volume).
 */
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse } from 'yaml';
import { gatewayConfig } from '../../gateway/src/config.ts';
import { ControlConfigSchema } from '../../control/src/config.ts';
import { startTestGateway } from '../gateway/helpers.ts';
import { startTestControl } from '../helpers/control-app.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
type Obj = Record<string, any>;

const k8s: Obj[] = readdirSync(path.join(ROOT, 'deploy/k8s')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) => parseAllDocuments(readFileSync(path.join(ROOT, 'deploy/k8s', f), 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${f}: ${d.errors[0]!.message}`);
    return d.toJS() as Obj;
  }));
const find = (kind: string, name: string) => k8s.find((d) => d.kind === kind && d.metadata?.name === name);
const envOf = (c: Obj): Record<string, string> => Object.fromEntries((c.env ?? []).filter((e: Obj) => 'value' in e).map((e: Obj) => [e.name, String(e.value)]));
const configMap = find('ConfigMap', 'switchboard-config')!.data as Record<string, string>;

/** the container port a probe's named or numbered port refers to */
function probePort(c: Obj, port: string | number): number {
  if (typeof port === 'number') return port;
  const p = (c.ports as Obj[]).find((x) => x.name === port);
  if (!p) throw new Error(`no container port named ${port}`);
  return p.containerPort;
}

async function status(url: string): Promise<number> {
  return (await fetch(url)).status;
}

t.test('kustomization lists every manifest', async (t) => {
  const kz = parse(readFileSync(path.join(ROOT, 'deploy/k8s/kustomization.yaml'), 'utf8')) as Obj;
  const files = readdirSync(path.join(ROOT, 'deploy/k8s')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
  t.same([...kz.resources].sort(), files);
});

t.test('gateway Deployment: probes hit real routes on the served port; drain fits the grace period', async (t) => {
  const dep = find('Deployment', 'switchboard-gateway')!;
  const pod = dep.spec.template.spec;
  const c = pod.containers[0];
  const env = { ...configMap, ...envOf(c) };
  const port = Number(env.GATEWAY_PORT);
  t.equal(port, gatewayConfig().GATEWAY_PORT, 'GATEWAY_PORT is the config default');
  t.equal(probePort(c, c.readinessProbe.httpGet.port), port, 'readiness on the gateway port');
  t.equal(probePort(c, c.livenessProbe.httpGet.port), port, 'liveness on the gateway port');
  t.equal(c.readinessProbe.httpGet.path, '/readyz');
  t.equal(c.livenessProbe.httpGet.path, '/healthz');
  t.match(c.lifecycle.preStop.exec.command.join(' '), /kill -TERM 1/, 'preStop starts the drain');
  const drainMs = Number(env.GATEWAY_DRAIN_DEADLINE_MS) + Number(env.GATEWAY_DRAIN_FLUSH_MS);
  t.ok(pod.terminationGracePeriodSeconds * 1000 > drainMs, `grace ${pod.terminationGracePeriodSeconds} s > drain + flush ${drainMs} ms`);
  t.equal(dep.spec.selector.matchLabels['app.kubernetes.io/name'], pod.containers && dep.spec.template.metadata.labels['app.kubernetes.io/name']);
  const spill = c.volumeMounts.find((m: Obj) => m.mountPath === env.GATEWAY_SPILL_DIR);
  t.ok(spill && pod.volumes.some((v: Obj) => v.name === spill.name), 'the spill directory is a volume');
  t.ok(pod.securityContext.runAsNonRoot, 'non-root');

  // the real server answers those probes
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  t.equal(await status(`http://127.0.0.1:${gw.gw.port}${c.readinessProbe.httpGet.path}`), 200, 'readiness route is served');
  t.equal(await status(`http://127.0.0.1:${gw.gw.port}${c.livenessProbe.httpGet.path}`), 200, 'liveness route is served');
  await gw.gw.drain(0);
  t.equal(await status(`http://127.0.0.1:${gw.gw.port}${c.readinessProbe.httpGet.path}`), 503, 'readiness fails while draining');
});

t.test('gateway Service, HPA and PDB select the Deployment', async (t) => {
  const dep = find('Deployment', 'switchboard-gateway')!;
  const labels = dep.spec.template.metadata.labels;
  const svc = find('Service', 'switchboard-gateway')!;
  for (const [k, v] of Object.entries(svc.spec.selector)) t.equal(labels[k], v, `Service selector ${k}`);
  t.equal(probePort(dep.spec.template.spec.containers[0], svc.spec.ports[0].targetPort), 8081);
  const hpa = find('HorizontalPodAutoscaler', 'switchboard-gateway')!;
  t.match(hpa.spec.scaleTargetRef, { kind: 'Deployment', name: 'switchboard-gateway' });
  t.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas);
  const pdb = find('PodDisruptionBudget', 'switchboard-gateway')!;
  for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) t.equal(labels[k], v, `PDB selector ${k}`);
});

t.test('control Deployment: probes hit real routes on the served port', async (t) => {
  const dep = find('Deployment', 'switchboard-control')!;
  const c = dep.spec.template.spec.containers[0];
  const env = envOf(c);
  t.equal(Number(env.CONTROL_PORT), ControlConfigSchema.parse({}).CONTROL_PORT, 'CONTROL_PORT is the config default');
  t.equal(probePort(c, c.readinessProbe.httpGet.port), Number(env.CONTROL_PORT));
  t.equal(probePort(c, c.livenessProbe.httpGet.port), Number(env.CONTROL_PORT));
  t.same(c.envFrom.map((e: Obj) => e.configMapRef?.name ?? e.secretRef?.name).sort(), ['switchboard-config', 'switchboard-secrets']);
  const svc = find('Service', 'switchboard-control')!;
  for (const [k, v] of Object.entries(svc.spec.selector)) t.equal(dep.spec.template.metadata.labels[k], v, `Service selector ${k}`);
  t.match(configMap.GATEWAY_JWKS_URL, new RegExp(`^http://${svc.metadata.name}\\.[^/]+:${svc.spec.ports[0].port}/\\.well-known/jwks\\.json$`), 'gateways fetch the JWKS from the control Service');

  const ctl = await startTestControl(t);
  t.equal(await status(ctl.url + c.readinessProbe.httpGet.path), 200, 'readiness route is served');
  t.equal(await status(ctl.url + c.livenessProbe.httpGet.path), 200, 'liveness route is served');
  t.equal(await status(ctl.url + '/.well-known/jwks.json'), 200, 'JWKS route is served');
});

t.test('compose: whole stack with Postgres and Redis, ports and healthchecks agree', async (t) => {
  const compose = parse(readFileSync(path.join(ROOT, 'deploy/compose.yaml'), 'utf8')) as Obj;
  const s = compose.services;
  t.same(Object.keys(s).sort(), ['control', 'gateway', 'postgres', 'redis']);
  t.equal(s.gateway.build.dockerfile, 'Dockerfile.gateway');
  t.equal(s.control.build.dockerfile, 'Dockerfile.control');
  t.match(s.gateway.ports[0], /^8081:8081$/);
  t.match(s.gateway.environment.GATEWAY_JWKS_URL, /^http:\/\/control:3000\/\.well-known\/jwks\.json$/);
  t.match(s.gateway.healthcheck.test.join(' '), /127\.0\.0\.1:8081\/readyz/);
  t.match(s.control.healthcheck.test.join(' '), /127\.0\.0\.1:3000\/readyz/);
  t.equal(s.gateway.environment.REDIS_URL, s.control.environment.REDIS_URL, 'one Redis for the bus');
  t.equal(s.gateway.environment.BUS_PREFIX, s.control.environment.BUS_PREFIX, 'same bus prefix');
  t.ok(parseInt(s.gateway.stop_grace_period, 10) * 1000 > Number(s.gateway.environment.GATEWAY_DRAIN_DEADLINE_MS), 'stop grace outlasts the drain');
  t.ok(s.gateway.volumes.some((v: string) => v.endsWith(':' + s.gateway.environment.GATEWAY_SPILL_DIR)), 'spill dir on a volume');
});

t.test('Dockerfiles: multi-stage, non-root, healthcheck /healthz, SIGTERM, ports = config defaults', async (t) => {
  for (const [file, port] of [['Dockerfile.gateway', gatewayConfig().GATEWAY_PORT], ['Dockerfile.control', ControlConfigSchema.parse({}).CONTROL_PORT]] as const) {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    t.equal((text.match(/^FROM /gm) ?? []).length, 2, `${file}: two stages`);
    t.match(text, /RUN npm ci/, `${file}: native modules compiled in the build stage`);
    t.match(text, /^USER node$/m, `${file}: non-root`);
    t.match(text, /^STOPSIGNAL SIGTERM$/m, `${file}: SIGTERM`);
    t.match(text, new RegExp(`^EXPOSE ${port}$`, 'm'), `${file}: exposes ${port}`);
    t.match(text, new RegExp(`HEALTHCHECK[\\s\\S]*\\|\\|${port}\\)\\+'/healthz'`), `${file}: healthcheck on /healthz`);
    t.match(text, /^VOLUME /m, `${file}: data on a volume`);
  }
});
