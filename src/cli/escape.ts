/**
 * Text from a model (tensor, node and file names) reaches the terminal in tables and error lines. A name may hold
 * control characters that clear the screen, move the cursor or set the window title, or bidi overrides that
 * reorder what is shown: each is written as an escape instead. C0 controls become `\xNN` (JSON.stringify has
 * already escaped them inside JSON); DEL, C1 controls and bidi controls become `\uNNNN`, which JSON strings
 * accept, so escaping a JSON document keeps it valid.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const hex = (c: string, width: number) => c.charCodeAt(0).toString(16).padStart(width, '0');

/** Every control character escaped, newlines included: for one table cell or one error line. */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => (c === '\n' ? '\\n' : c < '\u0020' ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`));
}

/** As `escapeControl`, but line breaks are kept: for whole blocks of output. */
export function escapeControlKeepLines(text: string): string {
  return text.replace(CONTROL, (c) => (c === '\n' ? c : escapeControl(c)));
}
