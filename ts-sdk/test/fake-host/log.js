// The `log` import: lines are kept in `lines` for tests to read.
export const lines = [];

export function log(level, message) {
  lines.push({ level, message });
}
