/** Messages-per-second limit for one connection: a fixed one-second window, two numbers of state. */
export class FloodGuard {
  private windowStart = 0;
  private count = 0;
  constructor(private readonly maxPerSecond: number) {}

  allow(now: number): boolean {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    return ++this.count <= this.maxPerSecond;
  }
}
