import t from 'tap';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Outbox, spillFileName, type OutboxSink } from '../../shared/src/bus/outbox.ts';
import { quietLog, tempDir, until } from './helpers.ts';

/** A sink that can be switched off like an unreachable Redis, recording what it accepted. */
class SwitchSink implements OutboxSink {
  up = true;
  received: string[] = [];
  batches = 0;
  isReady(): boolean {
    return this.up;
  }
  async deliver(lines: readonly string[]): Promise<void> {
    if (!this.up) throw new Error('down');
    this.batches++;
    for (const l of lines) this.received.push(l);
  }
}

const line = (n: number) => JSON.stringify({ n });
const nums = (lines: string[]) => lines.map((l) => (JSON.parse(l) as { n: number }).n);
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

t.test('delivers in order in batches while the sink is up', async (t) => {
  const tmp = tempDir('outbox-up');
  t.teardown(tmp.remove);
  const sink = new SwitchSink();
  const ob = new Outbox({ dir: tmp.dir, batchSize: 7, log: quietLog });
  ob.start(sink);
  for (let i = 0; i < 100; i++) ob.push(line(i));
  t.equal(await ob.flush(5000), true);
  t.same(nums(sink.received), range(0, 100));
  t.ok(sink.batches >= 100 / 7, 'batched');
  t.equal(ob.stats().delivered, 100);
  t.equal(ob.stats().spilled, 0, 'nothing touched the disk');
  await ob.close();
  t.same(readdirSync(tmp.dir), [], 'no spill files left');
});

t.test('beyond the memory bound lines spill to disk; all arrive in order when the sink returns', async (t) => {
  const tmp = tempDir('outbox-spill');
  t.teardown(tmp.remove);
  const sink = new SwitchSink();
  sink.up = false;
  const ob = new Outbox({ dir: tmp.dir, maxMemory: 50, batchSize: 20, segmentBytes: 200, retryMinMs: 10, retryMaxMs: 40, log: quietLog });
  ob.start(sink);
  for (let i = 0; i < 300; i++) ob.push(line(i));
  t.equal(ob.stats().buffered, 50, 'memory holds exactly its bound');
  t.ok(await until(() => ob.stats().spilled === 250), 'the rest was written to spill files');
  const files = readdirSync(tmp.dir);
  t.ok(files.length > 1, `segments rotate (${files.length} files)`);
  const onDisk = files.sort().flatMap((f) => readFileSync(join(tmp.dir, f), 'utf8').split('\n').filter(Boolean));
  t.same(nums(onDisk), range(50, 300), 'spill files hold the overflow in order');

  sink.up = true;
  ob.poke();
  t.equal(await ob.flush(10_000), true);
  t.same(nums(sink.received), range(0, 300), 'memory first, then files, nothing lost or reordered');
  t.same(readdirSync(tmp.dir), [], 'delivered spill files are removed');
  await ob.close();
});

t.test('memory takes new lines again while older ones still wait on disk (order kept)', async (t) => {
  const tmp = tempDir('outbox-interleave');
  t.teardown(tmp.remove);
  const sink = new SwitchSink();
  sink.up = false;
  const ob = new Outbox({ dir: tmp.dir, maxMemory: 10, batchSize: 10, retryMinMs: 10, retryMaxMs: 20, log: quietLog });
  ob.start(sink);
  for (let i = 0; i < 30; i++) ob.push(line(i));
  sink.up = true;
  ob.poke();
  // While the first chunks drain, keep pushing: new lines land in memory behind the spilled ones.
  for (let i = 30; i < 60; i++) {
    ob.push(line(i));
    await new Promise((r) => setImmediate(r));
  }
  t.equal(await ob.flush(10_000), true);
  t.same(nums(sink.received), range(0, 60));
  await ob.close();
});

t.test('close persists undelivered memory; the next outbox delivers leftovers first', async (t) => {
  const tmp = tempDir('outbox-restart');
  t.teardown(tmp.remove);
  const down = new SwitchSink();
  down.up = false;
  const a = new Outbox({ dir: tmp.dir, maxMemory: 20, log: quietLog });
  a.start(down);
  for (let i = 0; i < 45; i++) a.push(line(i));
  await a.close();
  t.same(down.received, [], 'nothing delivered while down');
  const files = readdirSync(tmp.dir).sort();
  const persisted = files.flatMap((f) => readFileSync(join(tmp.dir, f), 'utf8').split('\n').filter(Boolean));
  t.same(nums(persisted), range(0, 45), 'memory and spill files persisted in order');

  // A torn last line from a crash mid-write is skipped, not delivered.
  writeFileSync(join(tmp.dir, files[files.length - 1]!), readFileSync(join(tmp.dir, files[files.length - 1]!), 'utf8') + '{"n":');

  const up = new SwitchSink();
  const b = new Outbox({ dir: tmp.dir, maxMemory: 20, log: quietLog });
  for (let i = 45; i < 50; i++) b.push(line(i)); // pushed before start: still after the leftovers
  b.start(up);
  t.equal(await b.flush(10_000), true);
  t.same(nums(up.received), range(0, 50), 'leftovers first, then this process, in order');
  t.equal(b.stats().recovered, 45);
  t.same(readdirSync(tmp.dir), []);
  await b.close();
});

t.test('a half-delivered spill file is rewritten at close without the delivered part', async (t) => {
  const tmp = tempDir('outbox-partial');
  t.teardown(tmp.remove);
  writeFileSync(join(tmp.dir, spillFileName('outbox', 3)), range(0, 100).map(line).join('\n') + '\n');
  let calls = 0;
  const received: string[] = [];
  const flaky: OutboxSink = {
    async deliver(lines) {
      // accept two batches, then fail forever
      if (++calls > 2) throw new Error('down');
      for (const l of lines) received.push(l);
    },
  };
  const ob = new Outbox({ dir: tmp.dir, batchSize: 10, retryMinMs: 5, retryMaxMs: 10, log: quietLog });
  ob.start(flaky);
  t.ok(await until(() => calls > 3));
  await ob.close();
  t.same(nums(received), range(0, 20));
  const rest = readFileSync(join(tmp.dir, spillFileName('outbox', 3)), 'utf8').split('\n').filter(Boolean);
  t.same(nums(rest), range(20, 100), 'only the undelivered part remains');
});

t.test('push after close is persisted synchronously, never thrown', async (t) => {
  const tmp = tempDir('outbox-after-close');
  t.teardown(tmp.remove);
  const ob = new Outbox({ dir: tmp.dir, log: quietLog });
  ob.start(new SwitchSink());
  await ob.close();
  t.doesNotThrow(() => ob.push(line(7)));
  const files = readdirSync(tmp.dir);
  t.equal(files.length, 1);
  t.same(nums(readFileSync(join(tmp.dir, files[0]!), 'utf8').split('\n').filter(Boolean)), [7]);
});

t.test('spill write failure keeps lines in memory and still delivers them in order', async (t) => {
  const tmp = tempDir('outbox-badfile');
  t.teardown(tmp.remove);
  const sink = new SwitchSink();
  sink.up = false;
  const ob = new Outbox({ dir: tmp.dir, maxMemory: 5, retryMinMs: 5, retryMaxMs: 10, log: quietLog });
  ob.start(sink);
  // Make the next segment path a directory so open(..., 'a') fails with EISDIR.
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(tmp.dir, spillFileName('outbox', 1)));
  for (let i = 0; i < 12; i++) ob.push(line(i));
  t.ok(await until(() => ob.stats().spillErrors > 0), 'the failure is counted');
  sink.up = true;
  ob.poke();
  t.equal(await ob.flush(5000), true);
  t.same(nums(sink.received), range(0, 12));
  await ob.close();
});
