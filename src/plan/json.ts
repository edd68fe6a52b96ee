/**
 * Where a JSON plan's syntax error is. Node's JSON.parse says what is wrong, but only some of its messages say
 * where: `... in JSON at position 60` (Node 20), `... at position 60 (line 5 column 5)` (Node 22), while
 * `Unexpected token '}', "..." is not valid JSON` and `Unexpected end of JSON input` give no position at all (and
 * the first quotes the source, newlines included). The YAML parser cannot stand in: `tru` is a fine YAML scalar.
 */

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isHex = (c: string | undefined) => c !== undefined && /^[0-9a-fA-F]$/.test(c);

/**
 * Offset of the first syntax error in `text` read as JSON (ECMA-404, as JSON.parse reads it): the offending
 * character, or `text.length` when the text ends too early; null when it is valid JSON. Iterative, so deep
 * nesting cannot overflow the stack.
 */
export function jsonErrorOffset(text: string): number | null {
  const n = text.length;
  let i = 0;
  const stack: ('{' | '[')[] = [];
  const skip = () => {
    while (i < n && WHITESPACE.has(text[i]!)) i++;
  };
  /** At `"`: scans the string; false with `i` at the fault (n at the end of the text). */
  const string = (): boolean => {
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return true;
      }
      if (c < 0x20) return false;
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === undefined) {
          i = n;
          return false;
        }
        if ('"\\/bfnrt'.includes(e)) {
          i += 2;
          continue;
        }
        if (e !== 'u') {
          i++;
          return false;
        }
        for (let k = 2; k < 6; k++) {
          if (!isHex(text[i + k])) {
            i = Math.min(i + k, n);
            return false;
          }
        }
        i += 6;
        continue;
      }
      i++;
    }
    return false;
  };
  const number = (): boolean => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else if (isDigit(text[i])) while (isDigit(text[i])) i++;
    else return false;
    if (text[i] === '.') {
      i++;
      if (!isDigit(text[i])) return false;
      while (isDigit(text[i])) i++;
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (!isDigit(text[i])) return false;
      while (isDigit(text[i])) i++;
    }
    return true;
  };
  const scalar = (): boolean => {
    const c = text[i]!;
    if (c === '"') return string();
    if (c === '-' || isDigit(c)) return number();
    const literal = ['true', 'false', 'null'].find((l) => l[0] === c);
    if (!literal) return false;
    for (const ch of literal) {
      if (text[i] !== ch) return false;
      i++;
    }
    return true;
  };

  // 'value': a value is due; 'first': a value or `]` (just after `[`); 'key': a key is due; 'firstKey': a key or
  // `}` (just after `{`); 'after': a value ended, so `,`, the container's end, or (at the top) the end of the text.
  let state: 'value' | 'first' | 'key' | 'firstKey' | 'after' = 'value';
  for (;;) {
    skip();
    if (i >= n) return state === 'after' && stack.length === 0 ? null : n;
    const c = text[i]!;
    if (state === 'value' || state === 'first') {
      if (c === ']' && state === 'first') {
        stack.pop();
        i++;
        state = 'after';
      } else if (c === '{' || c === '[') {
        stack.push(c);
        i++;
        state = c === '{' ? 'firstKey' : 'first';
      } else if (scalar()) state = 'after';
      else return Math.min(i, n);
    } else if (state === 'key' || state === 'firstKey') {
      if (c === '}' && state === 'firstKey') {
        stack.pop();
        i++;
        state = 'after';
        continue;
      }
      if (c !== '"' || !string()) return Math.min(i, n);
      skip();
      if (i >= n) return n;
      if (text[i] !== ':') return i;
      i++;
      state = 'value';
    } else {
      const top = stack[stack.length - 1];
      if (top === undefined) return i;
      if (c === ',') {
        i++;
        state = top === '{' ? 'key' : 'value';
      } else if (c === (top === '{' ? '}' : ']')) {
        stack.pop();
        i++;
      } else return i;
    }
  }
}

/**
 * The line and one-line message of a JSON.parse error on `text`: the position Node gives, else the scanner's;
 * an error at the end of the text is placed on its last non-blank line. `yamlOffset`: where the YAML parser saw a
 * problem, the last resort should Node and the scanner disagree about the text being valid.
 */
export function jsonSyntaxError(text: string, error: unknown, yamlOffset?: number): { line: number; message: string } {
  const why = error instanceof Error ? error.message : String(error);
  const given = /\bat position (\d+)/.exec(why);
  let offset = given ? Number(given[1]) : (jsonErrorOffset(text) ?? yamlOffset ?? 0);
  const end = text.trimEnd().length;
  if (offset >= end) offset = Math.max(end - 1, 0);
  const line = text.slice(0, offset).split('\n').length;
  const token = /^(Unexpected token '[\s\S]{1,2}?'), [\s\S]*is not valid JSON$/.exec(why);
  const message = (token ? token[1]! : why.replace(/ in JSON at position \d+[\s\S]*$/, '').replace(/ at position \d+[\s\S]*$/, '')).replace(/\s*\n\s*/g, ' ');
  return { line, message };
}
