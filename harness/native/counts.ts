// Counting by name, for errors and errnos alike.

/** Counts an error by its name (`ConnectionRefused`, ...) in `counts`. */
export function countError(counts: Record<string, number>, error: unknown): void {
  countName(counts, error instanceof Error ? error.name : "Error");
}

/** Counts one occurrence of `name` in `counts`. */
export function countName(counts: Record<string, number>, name: string): void {
  counts[name] = (counts[name] ?? 0) + 1;
}
