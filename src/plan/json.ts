import { parse, type ParseError } from 'jsonc-parser';

/**
 * Where a JSON plan's syntax error is, and what it is in one line. Node's JSON.parse says what is wrong, but only
 * some of its messages say where (`... at position 60`); `Unexpected token '}', "..." is not valid JSON` and
 * `Unexpected end of JSON input` do not (and the first quotes the source, newlines included). The position then
 * comes from jsonc-parser (VS Code's JSON scanner) in strict mode: no comments, no trailing commas. The YAML
 * parser cannot stand in: `tru` is a fine YAML scalar. An error at the end of the text is placed on its last
 * non-blank line.
 */
export function jsonSyntaxError(text: string, error: unknown): { line: number; message: string } {
  const why = error instanceof Error ? error.message : String(error);
  const given = /\bat position (\d+)/.exec(why);
  const errors: ParseError[] = [];
  if (!given) parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  let offset = given ? Number(given[1]) : (errors[0]?.offset ?? 0);
  const end = text.trimEnd().length;
  if (offset >= end) offset = Math.max(end - 1, 0);
  const line = text.slice(0, offset).split('\n').length;
  const token = /^(Unexpected token '[\s\S]{1,2}?'), [\s\S]*is not valid JSON$/.exec(why);
  const message = (token ? token[1]! : why.replace(/ in JSON at position \d+[\s\S]*$/, '').replace(/ at position \d+[\s\S]*$/, '')).replace(/\s*\n\s*/g, ' ');
  return { line, message };
}
