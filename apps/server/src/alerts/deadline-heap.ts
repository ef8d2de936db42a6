/**
 * Keys due at a time, soonest first (a binary min-heap). One deadline per key: setting a key
 * again replaces its deadline (the old entry stays in the heap and is skipped when it comes up),
 * so a timer that moves costs O(log n) and no search.
 */
export class DeadlineHeap {
  private readonly at: number[] = [];
  private readonly keys: string[] = [];
  private readonly current = new Map<string, number>();

  get size(): number {
    return this.current.size;
  }

  set(key: string, at: number): void {
    this.current.set(key, at);
    this.push(at, key);
  }

  delete(key: string): void {
    this.current.delete(key);
  }

  has(key: string): boolean {
    return this.current.has(key);
  }

  get(key: string): number | undefined {
    return this.current.get(key);
  }

  /** Removes and returns every key due at or before `now`, soonest first. */
  popDue(now: number): string[] {
    const due: string[] = [];
    while (this.at.length > 0 && this.at[0]! <= now) {
      const at = this.at[0]!;
      const key = this.pop();
      // A replaced or deleted deadline: its live entry (if any) is elsewhere in the heap.
      if (this.current.get(key) !== at) continue;
      this.current.delete(key);
      due.push(key);
    }
    // Stale entries pile up when keys move often; rebuild when they outnumber live ones.
    if (this.at.length > 64 && this.at.length > this.current.size * 4) this.compact();
    return due;
  }

  private compact(): void {
    this.at.length = 0;
    this.keys.length = 0;
    for (const [k, at] of this.current) this.push(at, k);
  }

  private push(at: number, key: string): void {
    const a = this.at;
    const k = this.keys;
    let i = a.length;
    a.push(at);
    k.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= at) break;
      a[i] = a[p]!;
      k[i] = k[p]!;
      i = p;
    }
    a[i] = at;
    k[i] = key;
  }

  private pop(): string {
    const a = this.at;
    const k = this.keys;
    const top = k[0]!;
    const lastAt = a.pop()!;
    const lastKey = k.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && a[r]! < a[l]! ? r : l;
        if (a[c]! >= lastAt) break;
        a[i] = a[c]!;
        k[i] = k[c]!;
        i = c;
      }
      a[i] = lastAt;
      k[i] = lastKey;
    }
    return top;
  }
}
