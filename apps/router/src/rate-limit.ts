/**
 * A token bucket: `ratePerSecond` tokens a second, at most `burst` saved up. The ICMP error
 * limit of the ip4 stage (RFC 1812 4.3.2.8). Time in milliseconds from `now()`.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  /** Times {@link take} said no. */
  suppressed = 0;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes a token if there is one. */
  take(): boolean {
    const t = this.now();
    if (t > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.ratePerSecond) / 1000);
      this.last = t;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.suppressed++;
    return false;
  }

  /** Gives back a token taken for nothing (the reply was not allowed after all). */
  refund(): void {
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }
}
