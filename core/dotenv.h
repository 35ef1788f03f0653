/* core/dotenv.h — the one `.env` parser of teehost (shared/specs/phala-cloud.md 5.6 and 10.3).
 *
 * Hand-written: the format is informal (each tool has its own rules) and no packaged C library
 * follows the rules of the npm `dotenv` package, which `phala deploy` (the SDK's parseEnvVars)
 * uses and which teehost matches so that a file gives the same values on both.
 *
 * Rules. Lines end at LF, CRLF or a lone CR; a leading UTF-8 BOM is skipped. White space means
 * space, tab, vertical tab and form feed (JS also trims Unicode spaces such as U+00A0; teehost
 * keeps them).
 *   - blank lines and lines whose first non-blank character is `#` are skipped;
 *   - a definition is `[export ]NAME=value` or `[export ]NAME: value` (the colon right after the
 *     name, then white space); blanks may surround NAME and `=`; `export = 1` defines `export`;
 *   - NAME is one or more of A-Z a-z 0-9 _ . - (dotenv's set);
 *   - value in '…', "…" or `…`: the text between the quotes, kept as is; it may span lines. As in
 *     dotenv's regex it ends at the last quote (of its kind) such that every one inside is
 *     preceded by a backslash and only white space or a `#` comment follows it on its line. Only
 *     in double quotes are the two-character sequences \n and \r turned into LF and CR; nothing
 *     else is unescaped ("say \"hi\"" gives  say \"hi\" , as with dotenv and `phala deploy`);
 *   - unquoted value: the rest of the line, blanks trimmed at both ends; a `#` that starts the
 *     value or follows white space starts a comment. An empty value (`KEY=`, `KEY= # note`,
 *     `KEY=""`, `KEY: `) is kept as "".
 * Where teehost differs from dotenv (which skips what it cannot read and guesses the rest):
 *   - a line that is not blank, a comment or a definition is an error, as is an unterminated
 *     quote, text after a closing quote, `NAME:` with nothing after it (dotenv takes the next
 *     line as the value), a NUL byte or invalid UTF-8;
 *   - a NAME defined twice is an error (section 10: the whole set is sent encrypted and replaces
 *     the CVM's env, so a silently chosen value would be a secret nobody meant to send; dotenv
 *     keeps the last value at the first position);
 *   - a `#` inside an unquoted value that does not follow white space stays in the value, as the
 *     spec says (dotenv would cut `pa#ss` to `pa`): a warning names the line.
 * Otherwise a file gives exactly dotenv's values (checked against its regex on random files).
 *
 * Secrets: values live in one sodium_malloc block that th_dotenv_free wipes and frees. Error and
 * warning texts name a line and, once it is known to be one, a NAME — never a value, and never
 * the text of a line that could not be read (it may be a pasted secret):
 *   "line 3: expected NAME=value"  "line 3: missing '=' after the name"
 *   "line 3: invalid character in a name (allowed: A-Z a-z 0-9 _ . -)"
 *   "line 2: unterminated double-quoted value of TOKEN"
 *   "line 5: unexpected text after the closing quote of TOKEN"  "line 3: unexpected text after
 *   the closing quote of TOKEN (value opened on line 2)"
 *   "line 9: duplicate name TOKEN (first defined on line 2)"  "line 6: NUL byte"
 *   "line 6: invalid UTF-8". */
#ifndef TH_DOTENV_H
#define TH_DOTENV_H

#include <stddef.h>

#include "error.h"

/* One NAME=value pair. Also the input type of core/phala_env, so a binding that takes a table
 * builds an array of these pointing at its own strings (line 0). */
typedef struct th_dotenv_var {
  const char *name;  /* NUL-terminated */
  const char *value; /* NUL-terminated; contains no NUL (a .env value cannot) */
  size_t line;       /* 1-based line where the definition starts; 0 when not from a file */
} th_dotenv_var;

typedef struct th_dotenv {
  th_dotenv_var *vars; /* in file order; count entries */
  size_t count;
  char **warnings; /* warning_count NUL-terminated texts ("line 4: ..."), no secrets */
  size_t warning_count;
  char *names_;  /* private: all names (malloc) */
  char *values_; /* private: all values (sodium_malloc) */
  size_t values_size_;
} th_dotenv;

/* Parses len bytes of .env text (no NUL needed at the end). Returns a th_dotenv the caller owns
 * (th_dotenv_free), or NULL with err filled: TH_EBADDATA for the file's faults (texts above),
 * TH_ENOMEM. The input is not modified or kept; the caller wipes it if it must. */
th_dotenv *th_dotenv_parse(const char *text, size_t len, th_err *err);

/* The value of name, or NULL. Borrowed: valid until th_dotenv_free. */
const char *th_dotenv_get(const th_dotenv *env, const char *name);

/* Checks a pair that did not come from a file (a Lua table, say) against what a file can define:
 * NAME of the set above, value valid UTF-8. index (1-based) names the pair in the error, since a
 * bad name is not echoed: TH_EINVAL "env var 3: invalid name (allowed: A-Z a-z 0-9 _ . -)",
 * "env var 3 (TOKEN): value is not valid UTF-8". */
int th_dotenv_check_var(const char *name, const char *value, size_t index, th_err *err);

/* Wipes the values and frees everything; NULL is fine. */
void th_dotenv_free(th_dotenv *env);

#endif
