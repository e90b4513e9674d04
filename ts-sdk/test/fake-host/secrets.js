// The `secrets` import: tests put values in `values`.
export const values = new Map();

export function get(name) {
  return values.get(name);
}
